"""SD-card image: mmdebstrap recipe, overlay files, assembler and emulated boot test."""
