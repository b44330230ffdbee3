"""A layout check by machine: walk a Kivy widget tree as it is laid out on the window and
report what a user could not use or read.

Rules (each finding names one):
- "offscreen": a widget with text or that takes touches lies outside the window, or outside
  its scroll view's content (scrolled out of the viewport but inside the content is fine).
- "overflow": a label's or button's text is larger than its box after wrapping, or a word is
  broken across two lines (Kivy cuts a word that does not fit its line).
- "target": a touch target under 48 px either way (the on-screen keyboard's keys included).
- "contrast": WCAG contrast of the text against the background it is drawn on under 4.5:1
  (3:1 for bold text >= 24 px).
- "untranslated": French text in the English UI, or English words in the French UI.

It knows no screen: `findings(root, window_size, lang)` walks whatever tree it is given.
Hidden things are skipped: opacity 0, collapsed holders (height or width 0) that are
disabled or transparent, screens a ScreenManager does not show, widgets not in the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.behaviors import ButtonBehavior, ToggleButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import Screen, ScreenManager
from kivy.uix.scrollview import ScrollView
from kivy.uix.slider import Slider
from kivy.uix.stacklayout import StackLayout
from kivy.uix.textinput import TextInput
from kivy.uix.vkeyboard import VKeyboard

# Containers whose children must stay inside their box (a FloatLayout's may go anywhere).
BOXES = (BoxLayout, GridLayout, StackLayout, AnchorLayout, Screen, ScreenManager, ModalView)
RULES = ("offscreen", "overflow", "target", "contrast", "untranslated")
MIN_TARGET = 48
SLACK = 2  # px of rounding allowed between a texture and its box, or a box and its bounds
CATALOGUE = Path(__file__).resolve().parents[1] / "appliance/web/locale/en/LC_MESSAGES/messages.po"
# Kivy's default button image is a mid grey (its own theme), tinted by background_color.
DEFAULT_BUTTON_GREY = (0.345, 0.345, 0.345, 1)

# Second net, after the catalogue: words no English (resp. French) sentence of the kiosk
# has. Accented letters also count as French in the English UI, except in proper names.
FRENCH_WORDS = frozenset(
    """le la les des une du au aux pour avec dans sur est sont aucun aucune pas oui non
    enregistrer annuler accueil verrouiller rechercher clavier effacer entrer retour suivant
    précédent jour jours mois année semaine semaines heure heures aujourd hui demain hier
    naissance enfant enfants femme homme fille garçon rendez vous vaccin vaccins visite
    visites prochaine prochain retard échéance batterie arrêt chargement obligatoire
    corrigez champs rouge masquer tous toutes""".split()  # noqa: SIM905
)
ENGLISH_WORDS = frozenset(
    """staff due overdue the and of with save cancel home lock search yes today tomorrow
    yesterday week weeks month months year years please none not your you battery shutdown
    loading required keyboard back next previous visit visits birth child children woman
    women man men girl boy""".split()  # noqa: SIM905
)
FRENCH_LETTERS = re.compile(r"[àâäçéèêëîïôöùûüÿœæ]", re.IGNORECASE)
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)


@dataclass
class Finding:
    rule: str
    screen: str
    state: str
    widget: str
    text: str
    detail: str

    def __str__(self) -> str:
        where = self.state or self.screen or "-"
        text = f" {self.text!r}" if self.text else ""
        return f"[{self.rule}] {where}: {self.widget}{text} — {self.detail}"

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- catalogue
@lru_cache(maxsize=2)
def _catalogue(path: str = str(CATALOGUE)) -> dict[str, str]:
    """French msgid -> English msgstr, for the entries whose English differs."""
    from babel.messages.pofile import read_po

    try:
        with open(path, "rb") as f:
            catalog = read_po(f)
    except OSError:
        return {}
    out = {}
    for m in catalog:
        if not m.id or isinstance(m.id, tuple | list):
            continue
        s = m.string if isinstance(m.string, str) else (m.string[0] if m.string else "")
        if s and s.strip() != m.id.strip():
            out[m.id.strip()] = s
    return out


# --------------------------------------------------------------------------- geometry
Rect = tuple[float, float, float, float]  # x, y, right, top in window coordinates
Bounds = list[tuple[Rect, str]]  # the boxes a widget must lie in, each named for the finding


def window_rect(w) -> Rect:
    x, y = w.to_window(*w.pos)
    return x, y, x + w.width, y + w.height


def _outside(r: Rect, bounds: Rect) -> bool:
    x, y, right, top = r
    bx, by, bright, btop = bounds
    return x < bx - SLACK or y < by - SLACK or right > bright + SLACK or top > btop + SLACK


def _rect_text(r: Rect) -> str:
    x, y, right, top = r
    return f"({x:.0f},{y:.0f})-({right:.0f},{top:.0f})"


# --------------------------------------------------------------------------- colours
def _luminance(c) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(max(0.0, min(1.0, v))) for v in c[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg, bg) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _over(top, under) -> tuple:
    """`top` (rgba) composited over the opaque colour `under`."""
    a = top[3] if len(top) > 3 else 1
    return tuple(top[i] * a + under[i] * (1 - a) for i in range(3)) + (1,)


def _own_background(w):
    """The colour `w` itself paints behind its children/text, or None."""
    if isinstance(w, Button):
        down = isinstance(w, ToggleButtonBehavior) and w.state == "down"
        image = w.background_down if (down or w.state == "down") else w.background_normal
        if image == "":
            return tuple(w.background_color)
        if w.background_color[3] > 0:
            return _over(tuple(w.background_color), DEFAULT_BUTTON_GREY)  # approximate tint
    painted = getattr(w, "_bg_colour", None)
    if painted is not None and hasattr(painted, "rgba"):
        return tuple(painted.rgba)
    return None


def effective_background(w, base=(0, 0, 0, 1)) -> tuple:
    """The opaque colour behind `w`'s text: its own and its ancestors' backgrounds,
    composited from the window's clear colour up."""
    layers = []
    node = w
    while node is not None and node is not node.parent:
        own = _own_background(node)
        if own is not None:
            layers.append(own)
            if len(own) < 4 or own[3] >= 1:
                break
        node = node.parent
    colour = tuple(base[:3]) + (1,)
    for layer in reversed(layers):
        colour = _over(layer, colour)
    return colour


# --------------------------------------------------------------------------- walking
def _takes_touch(w) -> bool:
    if isinstance(w, ButtonBehavior | TextInput | Slider):
        return True
    try:
        return w.is_event_type("on_release") or w.is_event_type("on_press")
    except Exception:
        return False


def _text_of(w) -> str:
    if isinstance(w, TextInput):
        return w.text or w.hint_text or ""
    if isinstance(w, Label):
        return w.text or ""
    return ""


def _scroll_view_of(w):
    node = w.parent
    while node is not None and node is not node.parent:
        if isinstance(node, ScrollView):
            return node
        node = node.parent
    return None


def _label(w, parent) -> str:
    name = type(w).__name__
    if parent is None:
        return name
    same = [c for c in reversed(parent.children) if type(c) is type(w)]
    if len(same) > 1:
        return f"{name}[{same.index(w)}]"
    return name


def _short(parts: list[str]) -> str:
    if len(parts) > 6:
        parts = parts[:2] + ["…"] + parts[-3:]
    return ">".join(parts)


class _Checker:
    def __init__(self, window_size, lang: str, screen: str, state: str, allow: Iterable[str]):
        self.window = (0.0, 0.0, float(window_size[0]), float(window_size[1]))
        self.lang = lang
        self.screen = screen
        self.state = state
        self.allow = {a.lower() for a in allow if a}
        self.out: list[Finding] = []
        self.seen: set[tuple[str, str]] = set()
        self.clear = (0, 0, 0, 1)
        try:
            from kivy.core.window import Window

            self.clear = tuple(Window.clearcolor)
        except Exception:
            pass

    def add(self, rule: str, path: list[str], text: str, detail: str, screen: str) -> None:
        widget = _short(path)
        if (rule, widget) in self.seen:
            return
        self.seen.add((rule, widget))
        clean = " ".join(text.split())[:40]
        self.out.append(Finding(rule, self.screen or screen, self.state, widget, clean, detail))

    # -- the walk ----------------------------------------------------------------------------
    def walk(self, w, path: list[str], bounds: Bounds, screen: str, opacity: float = 1.0) -> None:
        opacity *= w.opacity
        if opacity <= 0.01:
            return
        if isinstance(w, Screen):
            screen = w.name
            path = [type(w).__name__]
        collapsed = w.width <= 0 or w.height <= 0
        if collapsed and (w.disabled or not w.children):
            return
        self.check(w, path, bounds, screen)
        if isinstance(w, VKeyboard):
            self.keys(w, path, bounds, screen)
            return  # its key labels are drawn by it, checked as keys
        inner = bounds
        if isinstance(w, ScrollView) and w.children:
            # scrolled out of the viewport is fine; outside the content is not reachable, nor
            # beyond the viewport in a direction it does not scroll
            x, y, right, top = window_rect(w.children[0])
            vx, vy, vright, vtop = window_rect(w)
            if not w.do_scroll_x:
                x, right = max(x, vx), min(right, vright)
            if not w.do_scroll_y:
                y, top = max(y, vy), min(top, vtop)
            inner = [((x, y, right, top), "its scroll view's reach")]
        elif isinstance(w, BOXES):
            # a layout's children overflowing its box overlap what lies beside it (a title
            # pushed under the header, a row under the buttons)
            inner = [*bounds, (window_rect(w), f"its {type(w).__name__}'s box")]
        children = list(reversed(w.children))
        if isinstance(w, ScreenManager):
            children = [c for c in children if c is w.current_screen]
        for child in children:
            self.walk(child, [*path, _label(child, w)], inner, screen, opacity)

    def check(self, w, path: list[str], bounds: Bounds, screen: str) -> None:
        text = _text_of(w)
        touch = _takes_touch(w)
        if not (text.strip() or touch or isinstance(w, ScrollView)):
            return
        r = window_rect(w)
        for rect, where in bounds:
            if _outside(r, rect):
                self.add(
                    "offscreen",
                    path,
                    text,
                    f"{_rect_text(r)} outside {where} {_rect_text(rect)}",
                    screen,
                )
                break
        if isinstance(w, TextInput) and w.focus:
            sv = _scroll_view_of(w)
            if sv is not None and _outside(r, window_rect(sv)):
                self.add(
                    "offscreen",
                    path,
                    text,
                    f"the field being typed in {_rect_text(r)} is out of sight of its scroll "
                    f"view {_rect_text(window_rect(sv))}",
                    screen,
                )
        small = w.width < MIN_TARGET - 0.5 or w.height < MIN_TARGET - 0.5
        if touch and small:
            self.add("target", path, text, f"{w.width:.0f}x{w.height:.0f} px < 48", screen)
        if isinstance(w, Label) and w.text.strip():
            self.overflow(w, path, screen)
            self.contrast(w, path, screen)
        elif isinstance(w, TextInput) and not w.text and w.hint_text.strip():
            self.hint_contrast(w, path, screen)
        if text.strip():
            self.language(text, path, screen)

    # -- rules -------------------------------------------------------------------------------
    def overflow(self, w: Label, path: list[str], screen: str) -> None:
        if w.shorten:
            return
        try:
            w.texture_update()
        except Exception:
            return
        tw, th = w.texture_size
        if tw > w.width + SLACK or th > w.height + SLACK:
            self.add(
                "overflow",
                path,
                w.text,
                f"text {tw:.0f}x{th:.0f} in box {w.width:.0f}x{w.height:.0f}",
                screen,
            )
            return
        broken = self._broken_word(w)
        if broken:
            self.add("overflow", path, w.text, f"word broken across lines: {broken!r}", screen)

    @staticmethod
    def _broken_word(w: Label) -> str | None:
        """A word Kivy cut to fit a line (its pieces are on two lines), or None."""
        if w.markup:
            return None
        lines = getattr(w._label, "_cached_lines", None) or []
        if len(lines) < 2:
            return None
        words = set(w.text.split())
        for line in lines:
            rendered = "".join(word.text for word in line.words)
            for token in rendered.split():
                if token in words:
                    continue
                # a piece of a word: the text's words contain it but not as a whole
                whole = next((word for word in words if token in word), None)
                if whole is not None:
                    return whole
        return None

    def contrast(self, w: Label, path: list[str], screen: str) -> None:
        if w.disabled:  # WCAG exempts inactive controls; Kivy greys them on purpose
            return
        bg = effective_background(w, self.clear)
        fg = _over(tuple(w.color), bg)
        ratio = contrast_ratio(fg, bg)
        need = 3.0 if (w.bold and w.font_size >= 24) else 4.5
        if ratio < need - 0.005:
            self.add(
                "contrast",
                path,
                w.text,
                f"{ratio:.2f}:1 < {need}:1 (text {_hex(fg)} on {_hex(bg)}, "
                f"{w.font_size:.0f} px{' bold' if w.bold else ''})",
                screen,
            )

    def hint_contrast(self, w: TextInput, path: list[str], screen: str) -> None:
        """The grey hint of an empty field is read like any text (Kivy's default grey on its
        white field is 3.9:1)."""
        if w.disabled:
            return
        under = effective_background(w.parent, self.clear) if w.parent else self.clear
        if w.background_normal == "" or w.background_active == "":
            field = _over(tuple(w.background_color), under)
        else:  # Kivy's own field image is white, tinted by background_color
            field = _over(tuple(w.background_color), (1, 1, 1, 1))
        fg = _over(tuple(w.hint_text_color), field)
        ratio = contrast_ratio(fg, field)
        if ratio < 4.5 - 0.005:
            self.add(
                "contrast",
                path,
                w.hint_text,
                f"hint {ratio:.2f}:1 < 4.5:1 (text {_hex(fg)} on {_hex(field)})",
                screen,
            )

    def language(self, text: str, path: list[str], screen: str) -> None:
        why = untranslated(text, self.lang, self.allow)
        if why:
            self.add("untranslated", path, text, why, screen)

    def keys(self, vk: VKeyboard, path: list[str], bounds: Rect, screen: str) -> None:
        """The VKeyboard's keys from its layout geometry (they are not widgets)."""
        try:
            layout = vk.available_layouts[vk.layout]
            rows = layout["rows"]
            w, h = vk.size
        except Exception:
            return
        for line in range(1, rows + 1):
            hints = vk.layout_geometry.get(f"LINE_HINT_{line}") or []
            keys = layout.get(f"{vk.layout_mode}_{line}") or []
            for i, ((xh, yh), (wh, hh)) in enumerate(hints):
                label = keys[i][0] if i < len(keys) else "?"
                kw, kh = wh * w, hh * h
                x, y = vk.to_window(xh * w, yh * h)
                kpath = [*path, f"key[{line}.{i}]"]
                if kw < MIN_TARGET - 0.5 or kh < MIN_TARGET - 0.5:
                    self.add("target", kpath, label, f"key {kw:.0f}x{kh:.0f} px < 48", screen)
                r = (x, y, x + kw, y + kh)
                outside = next((where for rect, where in bounds if _outside(r, rect)), None)
                if outside:
                    self.add(
                        "offscreen", kpath, label, f"key {_rect_text(r)} outside {outside}", screen
                    )


def _hex(c) -> str:
    return "#" + "".join(f"{round(max(0, min(1, v)) * 255):02x}" for v in c[:3])


def untranslated(text: str, lang: str, allow: Iterable[str] = ()) -> str | None:
    """Why `text` looks untranslated in `lang`, or None."""
    allow_set = allow if isinstance(allow, set) else {a.lower() for a in allow}
    if lang == "en":
        catalogue = _catalogue()
        for line in [text, *text.splitlines()]:
            line = line.strip()
            if line and line in catalogue:
                return f"French msgid shown in English (catalogue: {catalogue[line][:40]!r})"
        for word in WORD.findall(text):
            low = word.lower()
            if low in allow_set or any(low == part for part in allow_set):
                continue
            if low in FRENCH_WORDS:
                return f"French word {word!r}"
            if FRENCH_LETTERS.search(word) and not _in_names(low, allow_set):
                return f"French letters in {word!r}"
    elif lang == "fr":
        for word in WORD.findall(text):
            low = word.lower()
            if low in ENGLISH_WORDS and low not in allow_set:
                return f"English word {word!r}"
    return None


def _in_names(word: str, allow: set[str]) -> bool:
    return any(word in name.split() for name in allow)


def findings(
    root,
    window_size,
    lang: str,
    *,
    screen: str = "",
    state: str = "",
    allow: Iterable[str] = (),
) -> list[Finding]:
    """Every finding in the tree under `root` (a widget, or the Window to include modal
    views), laid out on a window of `window_size`, in language `lang` ("fr" or "en").
    `allow` lists proper names (patients, villages, staff) never counted as a language."""
    checker = _Checker(window_size, lang, screen, state, allow)
    tops = list(reversed(root.children)) if _is_window(root) else [root]
    for top in tops:
        checker.walk(top, [type(top).__name__], [(checker.window, "the window")], screen)
    return checker.out


def _is_window(root) -> bool:
    from kivy.core.window import WindowBase

    return isinstance(root, WindowBase)


def iter_text_widgets(root) -> Iterator:
    """Every widget with visible text under `root` (for callers that want to look)."""
    for w in root.walk(restrict=True):
        if _text_of(w).strip():
            yield w
