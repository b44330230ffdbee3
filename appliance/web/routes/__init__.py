"""Page routes of the tablet web app, one module per area."""
