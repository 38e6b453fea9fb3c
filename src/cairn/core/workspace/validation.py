"""Frontmatter validation with precise diagnostics, shared by the parsers of every kind."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cairn.core.workspace.diagnostics import Diagnostic, compat, error, warning
from cairn.core.workspace.documents import Document, thaw
from cairn.core.workspace.names import slug
from cairn.core.workspace.schema import NAME_PATTERN, NAME_RULE

M = TypeVar("M", bound=BaseModel)

_FIXES = {
    "missing": "add '{key}: ...' to the frontmatter",
    "string_type": "write text here (quote it if YAML reads it as a number, date or yes/no)",
    "literal_error": "use one of the allowed values listed",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "greater_than": "use a larger number",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "string_too_short": "write at least one character",
    "string_too_long": "shorten the text",
    "dict_type": "write nested 'key: value' lines here",
    "mapping_type": "write nested 'key: value' lines here",
    "model_type": "write nested 'key: value' lines here",
    "tuple_type": "write a list: [a, b] or one '- item' per line",
    "list_type": "write a list: [a, b] or one '- item' per line",
    "value_error": "see the message",
}


def _code(error_type: str) -> str:
    if error_type == "missing":
        return "missing-key"
    if error_type.endswith(("_type", "_parsing")):
        return "wrong-type"
    return "invalid-value"


def validate(
    schema: type[M],
    doc: Document,
    problems: list[Diagnostic],
    *,
    warn_unknown: bool = True,
    data: Mapping[str, Any] | None = None,
    required: Collection[str] | None = None,
) -> M | None:
    """Validate the frontmatter (or `data` made from it); append diagnostics. None when it
    cannot be used.

    With `required` given (the lenient reading of another tool's file), a key outside it
    whose value Cairn cannot read is left out with a warning, and the rest is used.
    """
    values = dict(thaw(doc.frontmatter) if data is None else data)
    try:
        meta = schema.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first: dict[str, Any] = {}  # each failing top-level key -> its first error
        for err in errors:
            if err["loc"]:
                first.setdefault(str(err["loc"][0]), err)
        whole = any(not e["loc"] for e in errors)  # a check across keys: nothing to leave out
        if required is not None and first and not whole and not first.keys() & set(required):
            for key, err in sorted(first.items()):
                values.pop(key, None)
                problems.append(
                    compat(
                        doc.path,
                        "ignored-key",
                        f"'{key}' is not written the way Cairn reads it ({err['msg'].lower()}), "
                        "so it is not used (kept in the file as written)",
                        _FIXES.get(err["type"], "correct the value").format(key=key),
                        doc.line_of((key,)),
                    )
                )
            return validate(schema, doc, problems, warn_unknown=warn_unknown, data=values)
        for err in errors:
            loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
            where = ".".join(str(p) for p in loc) or "frontmatter"
            key = str(loc[-1]) if loc else "key"
            message = err["msg"]
            fix = _FIXES.get(err["type"], "correct the value").format(key=key)
            if err["type"] == "missing":
                message = "required key is missing"
            elif err["type"] == "value_error":
                message = message.removeprefix("Value error, ")
            elif err["type"] == "extra_forbidden":
                known = _known_keys(schema, loc[:-1])
                close = difflib.get_close_matches(key, known, n=1)
                message = f"unknown key '{key}'" + (
                    f" (did you mean '{close[0]}'?)" if close else ""
                )
                fix = "fix the spelling or remove it" + (
                    f"; the keys here are: {', '.join(known)}" if known else ""
                )
            problems.append(
                error(doc.path, _code(err["type"]), f"'{where}': {message}", fix, doc.line_of(loc))
            )
        return None
    if warn_unknown:
        _warn_unknown_keys(meta, (), doc, problems)
    return meta


def _known_keys(schema: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the schema allows at `loc` (a nested model's fields), or [] if unknown."""
    model: type[BaseModel] | None = schema
    for part in loc:
        fields = model.model_fields if model is not None else {}
        if isinstance(part, str) and part in fields:
            model = _model_in(fields[part].annotation)
        # Otherwise a map's key (a connector's name) or a list index: `_model_in` already
        # went through the map or list to the model of its values.
    return [f.alias or n for n, f in model.model_fields.items()] if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (`X | None`, `Mapping[str, X]`…), if any."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _warn_unknown_keys(
    model: BaseModel, loc: tuple[str | int, ...], doc: Document, problems: list[Diagnostic]
) -> None:
    known = [f.alias or n for n, f in type(model).model_fields.items()]
    for key in model.model_extra or {}:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        problems.append(
            warning(
                doc.path,
                "unknown-key",
                f"unknown key '{'.'.join(map(str, (*loc, key)))}' (kept as written, not used)",
                f"{hint}remove it if it is a typo; known keys here: {', '.join(known)}",
                doc.line_of((*loc, key)),
            )
        )
    for name in type(model).model_fields:
        _warn_nested(getattr(model, name), (*loc, name), doc, problems)


def _warn_nested(
    value: object, loc: tuple[str | int, ...], doc: Document, problems: list[Diagnostic]
) -> None:
    if isinstance(value, BaseModel):
        _warn_unknown_keys(value, loc, doc, problems)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _warn_nested(item, (*loc, key), doc, problems)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            _warn_nested(item, (*loc, index), doc, problems)


def check_name(
    doc: Document, name: str, expected: str, what: str, problems: list[Diagnostic]
) -> bool:
    if len(name) > 64 or not NAME_PATTERN.match(name):
        problems.append(
            error(
                doc.path,
                "invalid-name",
                f"{what} name '{name}' breaks the naming rule",
                f"use {NAME_RULE}",
                doc.line_of(("name",)),
            )
        )
        return False
    if name != expected:
        problems.append(
            error(
                doc.path,
                "name-mismatch",
                f"{what} name '{name}' does not match its file or folder name '{expected}'",
                f"set 'name: {expected}' or rename the file or folder to '{name}'",
                doc.line_of(("name",)),
            )
        )
        return False
    return True


def cairn_name(name: str) -> str:
    """`name` when it follows Cairn's naming rule, else the closest name that does ('' if none)."""
    if len(name) <= 64 and NAME_PATTERN.match(name):
        return name
    return slug(name, 64)
