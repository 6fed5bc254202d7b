"""New run: pick an env (with search) and a model, choose a preset and overrides, start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.validation import Integer, Number
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from lesr_local.config import PRESETS, RunConfig, preset, with_overrides
from lesr_local.envs.catalogue import get_env_info, list_envs
from lesr_local.errors import LesrError
from lesr_local.llm import discovery
from lesr_local.tui.format import fmt_bytes, fmt_count, plain
from lesr_local.tui.services import AppServices
from lesr_local.tui.tabs import switch_tab


@dataclass(frozen=True)
class Field:
    key: str  # RunConfig override key (dotted for nested sections)
    label: str
    kind: str  # "int" | "float"
    minimum: float
    maximum: float | None = None

    def read(self, preset_config: RunConfig) -> Any:
        node: Any = preset_config
        for part in self.key.split("."):
            node = getattr(node, part)
        return node


FIELDS: tuple[Field, ...] = (
    Field("samples", "Samples per iteration (K)", "int", 1, 64),
    Field("iterations", "Iterations (I)", "int", 1, 50),
    Field("steps", "TD3 steps per candidate", "int", 1),
    Field("final_steps", "Final-evaluation steps", "int", 1),
    Field("seeds", "Final-evaluation seeds", "int", 1, 100),
    Field("workers", "Workers (0 = auto)", "int", 0, 256),
    Field("intrinsic_weight", "Intrinsic reward weight w", "float", 0.0, 100.0),
    Field("llm.temperature", "LLM temperature", "float", 0.0, 5.0),
)


def dims_table(info: Any) -> Table:
    """The env's observation dims, one row each, wrapping long meanings."""
    table = Table(box=None, expand=True, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right", width=3, no_wrap=True)
    table.add_column("meaning", ratio=1)
    table.add_column("unit", no_wrap=True, style="dim")
    for dim in info.dims:
        table.add_row(str(dim.index), plain(dim.description), plain(dim.unit))
    return table


TAB_FOCUS = {"tab-env": "#env-search", "tab-model": "#model-list", "tab-settings": "#opt-preset"}


def field_id(field: Field) -> str:
    return "opt-" + field.key.replace(".", "-").replace("_", "-")


class NewRunScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+s", "start", "Start run"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f1", "tab('tab-env')", "Env", show=False),
        Binding("f2", "tab('tab-model')", "Model", show=False),
        Binding("f3", "tab('tab-settings')", "Settings", show=False),
    ]

    def __init__(self, services: AppServices) -> None:
        super().__init__()
        self.services = services
        self.envs: list[Any] = []
        self.env_id: str | None = None
        self.models: list[Any] = []
        self.model_index: int | None = None
        self.preset_name = "quick"

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="new-tabs", initial="tab-env"):
            with TabPane("Environment", id="tab-env"), Horizontal(id="env-pane"):
                with Vertical(id="env-left"):
                    yield Input(placeholder="search envs…", id="env-search")
                    yield OptionList(id="env-list")
                with VerticalScroll(id="env-right"):
                    yield Static("", id="env-task")
                    yield Static("", id="env-dims")
            with TabPane("Model", id="tab-model"), Vertical(id="model-pane"):
                yield OptionList(Option("looking for models…", disabled=True), id="model-list")
                yield Static("", id="model-info", classes="detail")
                yield Input(placeholder="or a llama.cpp server URL, e.g. http://192.168.1.20:8080 "
                                        "(loopback or your own network)", id="model-url")
            with TabPane("Settings", id="tab-settings"), VerticalScroll(id="settings-pane"):
                with Horizontal(classes="form-row"):
                    yield Label("Preset", classes="form-label")
                    yield Select([(name, name) for name in PRESETS], value=self.preset_name,
                                 allow_blank=False, id="opt-preset", compact=True)
                for field in FIELDS:
                    with Horizontal(classes="form-row"):
                        yield Label(field.label, classes="form-label")
                        validator = (Integer(minimum=int(field.minimum),
                                             maximum=None if field.maximum is None else int(field.maximum))
                                     if field.kind == "int" else Number(minimum=field.minimum, maximum=field.maximum))
                        yield Input(id=field_id(field), type="integer" if field.kind == "int" else "number",
                                    validators=[validator], validate_on=["changed", "blur", "submitted"],
                                    compact=True)
                        yield Label("", classes="form-error", id=field_id(field) + "-error")
                with Horizontal(classes="form-row"):
                    yield Label("Constrained decoding", classes="form-label")
                    yield Select([("auto", "auto"), ("on", "on"), ("off", "off")], value="auto",
                                 allow_blank=False, id="opt-constrain", compact=True)
                with Horizontal(classes="form-row"):
                    yield Label("Video of the best", classes="form-label")
                    yield Checkbox("render at the end", value=True, id="opt-video", compact=True)
        with Horizontal(id="start-bar"):
            yield Static("", id="run-summary")
            yield Button("Start ▶", id="start", variant="success")
        yield Footer()

    # ------------------------------------------------------------------ set-up

    def on_mount(self) -> None:
        self._fill_preset(self.preset_name)
        self._load_envs()
        self.discover_models()
        self.query_one("#env-search", Input).focus()

    def _load_envs(self) -> None:
        try:
            self.envs = list_envs()
        except LesrError as exc:
            self.notify(str(exc), severity="error", markup=False)
            self.envs = []
        self._filter_envs("")
        default = preset(self.preset_name).env_id
        self._select_env(default if any(e.env_id == default for e in self.envs) else
                         (self.envs[0].env_id if self.envs else None))

    def _fill_preset(self, name: str) -> None:
        config = preset(name)
        for field in FIELDS:
            self.query_one("#" + field_id(field), Input).value = str(field.read(config))
        self.query_one("#opt-constrain", Select).value = config.llm.constrain
        self.query_one("#opt-video", Checkbox).value = config.render_video
        self._update_summary()

    # ------------------------------------------------------------------ env picker

    def _filter_envs(self, text: str) -> None:
        needle = text.strip().lower()
        options: list[Option] = []
        for env in self.envs:
            label = f"{env.env_id}"
            haystack = f"{env.env_id} {env.name} {env.family} {env.task}".lower()
            if not needle or all(part in haystack for part in needle.split()):
                options.append(Option(plain(label), id=env.env_id))
        typed = text.strip()
        if typed and not any(o.id == typed for o in options) and " " not in typed:
            options.append(Option(Text(f"use {typed!r} (described from its MuJoCo model)", style="italic"),
                                  id=typed))
        env_list = self.query_one("#env-list", OptionList)
        env_list.clear_options()
        env_list.add_options(options)
        ids = [o.id for o in options]
        if self.env_id in ids:
            env_list.highlighted = ids.index(self.env_id)
        elif ids:
            env_list.highlighted = 0

    @on(Input.Changed, "#env-search")
    def _search_changed(self, message: Input.Changed) -> None:
        self._filter_envs(message.value)

    @on(Input.Submitted, "#env-search")
    def _search_submitted(self) -> None:
        env_list = self.query_one("#env-list", OptionList)
        if env_list.option_count:
            index = env_list.highlighted or 0
            env_list.highlighted = index
            option_id = env_list.get_option_at_index(index).id
            if option_id:
                self._select_env(option_id)
            env_list.focus()

    @on(OptionList.OptionHighlighted, "#env-list")
    def _env_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        if message.option.id and any(e.env_id == message.option.id for e in self.envs):
            self._select_env(message.option.id)

    @on(OptionList.OptionSelected, "#env-list")
    def _env_selected(self, message: OptionList.OptionSelected) -> None:
        if message.option.id:
            self._select_env(message.option.id)
            self.action_tab("tab-model")

    def _select_env(self, env_id: str | None) -> None:
        if env_id is None:
            return
        self.env_id = env_id
        known = next((e for e in self.envs if e.env_id == env_id), None)
        if known is not None:
            self._show_env(known)
        else:
            self.query_one("#env-task", Static).update(plain(f"Describing {env_id} from its MuJoCo model…"))
            self.query_one("#env-dims", Static).update("")
            self.describe_env(env_id)
        self._update_summary()

    @work(thread=True, exclusive=True, group="describe-env")
    def describe_env(self, env_id: str) -> None:
        try:
            info = get_env_info(env_id)
        except LesrError as exc:
            self.app.call_from_thread(self._env_error, env_id, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - gymnasium errors become one line in the form
            self.app.call_from_thread(self._env_error, env_id, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show_env, info)

    def _env_error(self, env_id: str, message: str) -> None:
        if self.env_id == env_id:
            self.env_id = None
            self.query_one("#env-task", Static).update(Text(message, style="red"))
            self._update_summary()

    def _show_env(self, info: Any) -> None:
        if self.env_id not in (info.env_id, None) and not info.env_id.startswith(self.env_id or ""):
            return
        self.env_id = info.env_id
        metric = "success rate" if info.metric == "success_rate" else "episode return"
        header = Text.assemble(
            (info.env_id, "bold"), f"  ·  {info.state_dim} state dims  ·  scored by {metric}",
            ("" if info.catalogued else "  ·  described automatically", "italic"), "\n", info.task,
        )
        self.query_one("#env-task", Static).update(header)
        self.query_one("#env-dims", Static).update(dims_table(info))
        self._update_summary()

    # ------------------------------------------------------------------ model picker

    @work(thread=True, exclusive=True, group="discovery")
    def discover_models(self) -> None:
        try:
            models = discovery.discover_models()
        except LesrError as exc:
            self.app.call_from_thread(self._models_error, str(exc))
            return
        self.app.call_from_thread(self._show_models, models)

    def _models_error(self, message: str) -> None:
        self.query_one("#model-info", Static).update(Text(f"model discovery failed: {message}", style="red"))

    def _show_models(self, models: list[Any]) -> None:
        self.models = models
        model_list = self.query_one("#model-list", OptionList)
        model_list.clear_options()
        for index, model in enumerate(models):
            star = "★ " if model.default else "  "
            model_list.add_option(Option(plain(f"{star}{model.name}"), id=str(index)))
        if not models:
            model_list.add_option(Option("no GGUF model found — see Models", disabled=True))
            return
        self.model_index = next((i for i, m in enumerate(models) if m.default), 0)
        model_list.highlighted = self.model_index
        self._show_model(self.model_index)

    @on(OptionList.OptionHighlighted, "#model-list")
    def _model_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        self._pick_model(message.option.id)

    @on(OptionList.OptionSelected, "#model-list")
    def _model_selected(self, message: OptionList.OptionSelected) -> None:
        self._pick_model(message.option.id)
        self.action_tab("tab-settings")

    def _pick_model(self, option_id: str | None) -> None:
        if option_id is not None and self.models:
            self.model_index = int(option_id)
            self._show_model(self.model_index)

    def _show_model(self, index: int) -> None:
        model = self.models[index]
        self.query_one("#model-info", Static).update(plain(
            f"{model.name}\nsize {fmt_bytes(model.size_bytes)} · quantization {model.quantization or '—'}"
            f" · parameters {fmt_count(model.parameters)} · context {fmt_count(model.context_length)}\n"
            f"chat template: {'yes' if model.chat_template else 'no (base model)'} · source {model.source}"
            + (" · default" if model.default else "")
        ))
        self._update_summary()

    # ------------------------------------------------------------------ settings

    @on(Select.Changed, "#opt-preset")
    def _preset_changed(self, message: Select.Changed) -> None:
        if isinstance(message.value, str) and message.value != self.preset_name:
            self.preset_name = message.value
            self._fill_preset(message.value)

    @on(Input.Changed, ".form-row Input")
    def _field_changed(self, message: Input.Changed) -> None:
        error = self.query_one(f"#{message.input.id}-error", Label)
        result = message.validation_result
        if result is not None and not result.is_valid:
            error.update(Text("; ".join(result.failure_descriptions), style="red"))
        else:
            error.update("")
        self._update_summary()

    def _invalid_fields(self) -> list[str]:
        bad = []
        for field in FIELDS:
            widget = self.query_one("#" + field_id(field), Input)
            result = widget.validate(widget.value)
            if widget.value.strip() == "" or (result is not None and not result.is_valid):
                bad.append(field.label)
        return bad

    def build_config(self) -> RunConfig:
        """The RunConfig the form describes (LesrError with one line when something is off)."""
        if not self.env_id:
            raise LesrError("pick an environment first")
        bad = self._invalid_fields()
        if bad:
            raise LesrError(f"fix: {', '.join(bad)}")
        overrides: dict[str, Any] = {"env_id": self.env_id}
        for field in FIELDS:
            raw = self.query_one("#" + field_id(field), Input).value.strip()
            overrides[field.key] = int(raw) if field.kind == "int" else float(raw)
        overrides["llm.constrain"] = self.query_one("#opt-constrain", Select).value
        overrides["render_video"] = self.query_one("#opt-video", Checkbox).value
        url = self.query_one("#model-url", Input).value.strip()
        if url:
            overrides["llm.url"] = url  # checked by with_overrides: loopback or a private address only
        elif self.models and self.model_index is not None:
            overrides["llm.model"] = str(self.models[self.model_index].path)
        return with_overrides(preset(self.preset_name), **overrides)

    @on(Input.Changed, "#model-url")
    def _url_changed(self, message: Input.Changed) -> None:
        self._update_summary()

    def _update_summary(self) -> None:
        summary = self.query_one("#run-summary", Static)
        try:
            config = self.build_config()
        except LesrError as exc:
            summary.update(Text(str(exc), style="yellow"))
            return
        model = self.models[self.model_index].name if self.models and self.model_index is not None else "default"
        if config.llm.url:
            model = f"server {config.llm.url}"
        summary.update(plain(
            f"{config.env_id} · {model} · {config.preset}: K={config.samples} I={config.iterations} "
            f"N={fmt_count(config.steps)} seeds={config.seeds}"
        ))

    # ------------------------------------------------------------------ actions

    def action_tab(self, tab: str) -> None:
        """Show a tab and focus its first field (a focused widget in a hidden pane would pull it back)."""
        switch_tab(self.query_one("#new-tabs", TabbedContent), tab, self.query_one(TAB_FOCUS[tab]))

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        try:
            config = self.build_config()
        except LesrError as exc:
            self.notify(str(exc), title="Cannot start", severity="error", markup=False)
            return
        self.services.start_run(config, replace=self)
