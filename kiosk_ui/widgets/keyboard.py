"""The on-screen French keyboard: Kivy's VKeyboard with its "azerty" layout, typing into one
TextInput. VKeyboard on an SDL2 window sends printable keys as on_textinput and special keys
(backspace, enter) as on_key_down; on other windows everything comes as on_key_down."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.properties import ObjectProperty
from kivy.uix.relativelayout import RelativeLayout
from kivy.uix.vkeyboard import VKeyboard

KEYBOARD_H = dp(250)  # 5 rows of 50 dp


class AzertyKeyboard(RelativeLayout):
    """Fixed (not draggable) azerty VKeyboard filling this widget. Events: on_enter() (⏎) and
    on_hide() (its hide key: the screen removes the keyboard)."""

    target = ObjectProperty(None, allownone=True)
    __events__ = ("on_enter", "on_hide")

    def __init__(self, **kw):
        kw.setdefault("size_hint_y", None)
        kw.setdefault("height", KEYBOARD_H)
        super().__init__(**kw)
        self.vk = VKeyboard(
            layout="azerty",
            size_hint=(None, None),
            do_translation=False,
            do_rotation=False,
            do_scale=False,
            margin_hint=[0.01, 0.005, 0.01, 0.005],
            font_size=sp(22),
        )
        self.vk.bind(on_textinput=self._text, on_key_down=self._key_down)
        self.add_widget(self.vk)
        self.bind(size=self._fit)
        self._fit()

    def _fit(self, *_):
        vk = self.vk
        vk.do_translation = vk.do_rotation = vk.do_scale = False  # fixed, not a scatter
        vk.pos = (0, 0)
        vk.size = self.size
        # VKeyboard draws its keys for the size it had when its layout loaded: redraw.
        if self.width > 1 and "U_HINT" in vk.layout_geometry:
            vk.refresh(True)
        elif self.width > 1:
            Clock.schedule_once(lambda _dt: self._fit(), 0)

    def _text(self, _vk, text: str) -> None:
        self.type(text)

    def _key_down(self, _vk, keycode, internal, _modifiers) -> None:
        if internal:
            self.type(internal)
        elif keycode == "backspace":
            if self.target is not None:
                self.target.text = self.target.text[:-1]
        elif keycode == "enter":
            self.dispatch("on_enter")
        elif keycode == "escape" and self.target is not None:
            self.target.text = ""

    def type(self, text: str) -> None:
        if self.target is None or text in ("\t",):
            return
        self.target.text += text

    def on_enter(self) -> None:
        pass

    def on_hide(self) -> None:
        pass
