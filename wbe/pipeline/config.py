"""The workflow configuration: one section per stage, each the stage's own ``Params`` model.

The JSON Schema in ``workflow/schemas/config.schema.json`` is generated from these models
(``wbe schema``) and checked by a test to be current, so the schema, the CLI and the library
can never disagree. A config is validated before anything runs; errors name the key.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wbe.io.yamlfile import read_yaml
from wbe.pipeline import stages, store

#: stage -> module that implements it (``Params`` + ``run``; optionally ``external_paths`` and
#: ``upstream``); defined beside the store, which hashes these modules' code into the keys
STAGE_MODULES = store.STAGE_MODULES


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key."""


def stage_module(stage: str):
    """The glue module of ``stage`` (:data:`wbe.pipeline.stages.STAGES`)."""
    try:
        return stages.stage_module(stage)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _build_config_model() -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for stage in STAGE_MODULES:
        params_cls = stage_module(stage).Params
        fields[stage] = (params_cls, Field(default_factory=params_cls,
                                           description=f"parameters of the {stage} stage"))
    from pydantic import create_model

    from wbe.pipeline.studies import STUDIES

    for s in STUDIES:  # a study section replaces the pipeline (workflow/rules/studies.smk)
        fields[s.section] = (s.spec_model | None, Field(
            None, description=f"{s.description}; when present, `snakemake` runs this study "
                              "instead of the pipeline"))
    return create_model(
        "Config",
        __config__=ConfigDict(extra="forbid"),
        results=(str, Field("results", description="folder of the content-addressed store")),
        **fields,
    )


_CONFIG_MODEL: type[BaseModel] | None = None


def config_model() -> type[BaseModel]:
    global _CONFIG_MODEL
    if _CONFIG_MODEL is None:
        _CONFIG_MODEL = _build_config_model()
    return _CONFIG_MODEL


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        got = err.get("input")
        got_s = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {key}: {err['msg']}{got_s}")
    return "\n".join(lines)


def load_config(data: dict[str, Any] | None, source: str = "config") -> BaseModel:
    """Validate a config dict (missing sections take defaults). Raises :class:`ConfigError`."""
    try:
        return config_model().model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def normalise(data: dict[str, Any] | None, source: str = "config") -> dict[str, Any]:
    """``data`` with every value the user gave converted to its field's type and nothing added:
    ``snakemake --config simulation='{seed: 7}'`` parses nested values as strings ('7'), which
    the JSON Schema would refuse; the stage models read them as the numbers they are. Raises
    :class:`ConfigError` naming the key when a value cannot be read."""
    def nulls(node: Any) -> Any:  # YAML's BaseLoader leaves null as the string "null"
        if isinstance(node, dict):
            return {k: nulls(v) for k, v in node.items()}
        if isinstance(node, list):
            return [nulls(v) for v in node]
        return None if isinstance(node, str) and node in ("null", "~", "Null", "NULL") else node

    try:
        model = config_model().model_validate(nulls(data or {}))
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
    return model.model_dump(mode="json", exclude_unset=True)


def layered(*layers: dict[str, Any] | None) -> dict[str, Any]:
    """Config dicts merged as Snakemake merges ``configfile:``, ``--configfile`` and
    ``--config``: later layers win, nested mappings are merged key by key, anything else
    (lists included) is replaced."""
    from snakemake.utils import update_config

    out: dict[str, Any] = {}
    for layer in layers:
        if layer:
            update_config(out, copy.deepcopy(layer))
    return out


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file (empty for an empty file)."""
    path = Path(path)
    data = read_yaml(path, ConfigError)
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of stage sections")
    return data or {}


def load_config_file(path: Path) -> BaseModel:
    return load_config(read_config_file(path), str(path))


def stage_upstream(stage: str, params: BaseModel) -> tuple[str, ...]:
    """The stages whose outputs ``stage`` reads with these parameters: ``store.STAGES`` unless
    the stage module narrows it with ``upstream(params)`` (e.g. a connectome imported from a
    dataset needs no imaging)."""
    fn = getattr(stage_module(stage), "upstream", None)
    return tuple(fn(params)) if fn is not None else store.STAGES[stage]


def stage_plan(cfg: BaseModel) -> dict[str, store.StagePlan]:
    """Keys and parameters of every stage for a validated config.

    External files a stage reads (its ``external_paths``; relative paths resolved by
    :func:`wbe.pipeline.paths.resolve_data_path`) enter its key by content, not by location."""
    params = {s: getattr(cfg, s).model_dump(mode="json") for s in STAGE_MODULES}
    external = {}
    for stage in STAGE_MODULES:
        mod = stage_module(stage)
        paths_fn = getattr(mod, "external_paths", None)
        if paths_fn is None:
            continue
        fps = {}
        for name, p in paths_fn(getattr(cfg, stage)).items():
            p = Path(p)
            fps[name] = store.fingerprint_path(p) if p.exists() else {"missing": True}
        external[stage] = fps
    graph = {s: stage_upstream(s, getattr(cfg, s)) for s in STAGE_MODULES}
    return store.plan(params, external, stages=graph)


def describe_params(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, type = default, description with unit) for every field of a stage's
    ``Params``, nested models flattened (``background.rate_hz``; list items as ``stimulus[].``),
    read from the same models as the schema."""
    import typing

    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        origin, args = typing.get_origin(ann), typing.get_args(ann)
        inner = args[0] if origin is list and args else None
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        elif isinstance(default, list):
            default = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d
                       for d in default]
        if origin is typing.Literal:
            type_name = "one of " + "|".join(str(a) for a in args)
        elif isinstance(ann, type):
            type_name = ann.__name__
        else:
            type_name = str(ann).replace("typing.", "")
        models = [a for a in (args if args else (ann,))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if models and origin is not list:  # a nested section (optional when None is allowed)
            sub = models[0]
            kind = "object" if sub is ann else "object or null = null"
            rows.append((key, kind, field.description or (sub.__doc__ or "").split("\n")[0]))
            rows.extend(describe_params(sub, f"{key}."))
            continue
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            rows.append((key, f"list = {json.dumps(default)}",
                         field.description or (inner.__doc__ or "").split("\n")[0]))
            rows.extend(describe_params(inner, f"{key}[]."))
            continue
        value = "(required)" if field.is_required() else f"= {json.dumps(default)}"
        rows.append((key, f"{type_name} {value}", field.description or ""))
    return rows


def params_help(model: type[BaseModel]) -> str:
    """The parameters of a stage as text for ``wbe <stage> --help``."""
    rows = describe_params(model)
    width = max((len(k) for k, _, _ in rows), default=0)
    lines = ["parameters (--params JSON; the same keys as the stage's section of the config):"]
    for key, kind, doc in rows:
        lines.append(f"  {key:<{width}}  {kind}")
        if doc:
            lines.append(f"  {'':<{width}}    {doc}")
    return "\n".join(lines)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``$ref`` to ``$defs`` so every validator (and Snakemake's default filling) sees
    plain nested objects."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                target = resolve(dict(defs[node["$ref"].split("/")[-1]]))
                extra = {k: resolve(v) for k, v in node.items() if k != "$ref"}
                return {**target, **extra}
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def _drop_null_object_defaults(node: Any) -> Any:
    """``default: null`` on an optional object makes Snakemake's default filling descend into
    None; absent means the same, so drop such defaults."""
    if isinstance(node, dict):
        if node.get("default", 0) is None and any(
                isinstance(a, dict) and a.get("type") == "object" for a in node.get("anyOf", [])):
            node = {k: v for k, v in node.items() if k != "default"}
        return {k: _drop_null_object_defaults(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_drop_null_object_defaults(v) for v in node]
    return node


def json_schema() -> dict[str, Any]:
    schema = _drop_null_object_defaults(_inline_refs(config_model().model_json_schema()))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "wbe workflow configuration. GENERATED by `wbe schema` from the stage Params models; "
        "do not edit by hand."
    )
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
