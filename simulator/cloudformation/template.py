"""CloudFormation templates: loading (YAML with short-form tags, or JSON) and intrinsics.

Short forms (``!Ref``, ``!GetAtt``, ``!Sub``, ``!Join`` ...) load as their long forms
(``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``) so one resolver handles both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from simulator import inputs

#: A property whose value resolves to nothing is dropped, as ``AWS::NoValue`` does.
NO_VALUE = object()

_SHORT_FORMS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
            "FindInMap", "Base64", "GetAZs", "ImportValue", "Cidr", "Length", "ToJsonString",
        )
    },
}


class TemplateError(ValueError):
    """A template that cannot be loaded or resolved, with where and why."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that knows CloudFormation's short-form tags."""


def _construct(long_name: str) -> Callable[[yaml.Loader, yaml.Node], Any]:
    def construct(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


for _short, _long in _SHORT_FORMS.items():
    _Loader.add_constructor(f"!{_short}", _construct(_long))
# YAML 1.1 would read 2010-09-09 as a date; CloudFormation keeps it a string.
_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


#: CloudFormation's quotas (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html):
#: "Template body size in a request" and the most entries of each template section.
TEMPLATE_BODY_BYTES = 51_200
SECTION_LIMITS = {"Resources": 500, "Parameters": 200, "Outputs": 200, "Mappings": 200}
#: "Parameter value: Maximum size of a parameter value", bytes.
PARAMETER_VALUE_BYTES = 4_096
#: Text that starts like a template (a JSON object, or a YAML mapping key) is a template body.
_TEMPLATE_TEXT = re.compile(r"\A\s*(?:\{|---|#|[A-Za-z][A-Za-z0-9]*\s*:)")


def is_template_text(source: str) -> bool:
    """Whether ``source`` is a template body rather than a path (decided by its content)."""
    return "\n" in source or bool(_TEMPLATE_TEXT.match(source))


def _parse(text: str, name: str) -> Any:
    """JSON when it is JSON, else YAML (JSON is YAML, but the JSON parser is the faster)."""
    if text.lstrip().startswith("{"):
        try:
            return inputs.parse_json(text, name)
        except inputs.InputError as exc:
            if "not valid JSON" not in str(exc):
                raise
    try:
        return inputs.parse_yaml(text, name, loader=_Loader)
    except inputs.InputError as exc:
        if "not valid YAML" not in str(exc):
            raise
        detail = str(exc).split("not valid YAML: ", 1)[1]
        raise inputs.InputError(f"{name}: the template is neither valid YAML nor JSON: {detail}"
                                ) from None


def load_template(source: str | Path) -> dict[str, Any]:
    """Load a template from a path or from its text (YAML or JSON).

    A ``Path`` is always a file; a string is a template body when its content says so
    (:func:`is_template_text`), else a path. The body may hold at most 51,200 bytes, as
    CloudFormation's ``TemplateBody`` does, and its sections at most CloudFormation's quotas.
    """
    name = "the template"
    try:
        if isinstance(source, Path) or not is_template_text(source):
            name = str(source)
            text = inputs.read_text(source, limit=TEMPLATE_BODY_BYTES, what="template file")
        else:
            text = source
            if len(text.encode("utf-8")) > TEMPLATE_BODY_BYTES:
                raise TemplateError(
                    "1 validation error detected: Value at 'templateBody' failed to satisfy "
                    f"constraint: Member must have length less than or equal to "
                    f"{TEMPLATE_BODY_BYTES}"
                )
        doc = _parse(text, name)
    except inputs.InputError as exc:
        raise TemplateError(str(exc)) from None
    return validate_template(doc, name)


def validate_template(doc: Any, name: str = "the template") -> dict[str, Any]:
    """``doc`` when it is a template CloudFormation would accept the shape of, else a
    TemplateError naming the section (templates given as dicts are checked the same way)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise TemplateError(
            f"{name}: a template needs a Resources section mapping logical ids to resources"
        )
    for section, most in SECTION_LIMITS.items():
        entries = doc.get(section) or {}
        if isinstance(entries, dict) and len(entries) > most:
            noun = section.lower()
            raise TemplateError(
                f"Template format error: Number of {noun}, {len(entries)}, is greater than "
                f"maximum allowed, {most}"
            )
    _check_sections(doc)
    return doc


def _check_sections(doc: dict[str, Any]) -> None:
    """The template's sections have the shapes CloudFormation requires (before resolving)."""
    for section in ("Parameters", "Conditions", "Outputs", "Mappings"):
        if section in doc and not isinstance(doc[section], dict):
            raise TemplateError(f"Template format error: {section} must be a mapping")
    for logical_id, res in doc["Resources"].items():
        where = f"Resources.{logical_id}"
        if not isinstance(res, dict) or not isinstance(res.get("Type"), str):
            raise TemplateError(f"{where}: needs a Type")
        if not isinstance(res.get("Properties", {}), dict):
            raise TemplateError(f"{where}.Properties: must be a mapping")
        if "Condition" in res and not isinstance(res["Condition"], str):
            raise TemplateError(f"{where}.Condition: must be the name of a condition")
        depends = res.get("DependsOn", [])
        if not (isinstance(depends, str) or (
                isinstance(depends, list) and all(isinstance(d, str) for d in depends))):
            raise TemplateError(f"{where}.DependsOn: must be a logical id or a list of them")
    for name, out in (doc.get("Outputs") or {}).items():
        if not isinstance(out, dict) or "Value" not in out:
            raise TemplateError(f"Outputs.{name}: needs a Value")
    for name, mapping in (doc.get("Mappings") or {}).items():
        if not isinstance(mapping, dict) or not all(isinstance(v, dict) for v in mapping.values()):
            raise TemplateError(f"Mappings.{name}: must map keys to mappings of values")


class Resolver:
    """Resolves intrinsic functions against parameters, pseudo parameters and resources."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        refs: Mapping[str, Any],
        attributes: Callable[[str, str], Any],
        conditions: Mapping[str, bool] | None = None,
        mappings: Mapping[str, Any] | None = None,
        imports: Callable[[str], Any] | None = None,
    ) -> None:
        self.parameters = parameters
        self.pseudo = pseudo
        self.refs = refs
        self.attributes = attributes
        self.conditions = dict(conditions or {})
        self.mappings = mappings or {}
        #: The value another stack exports under a name (Fn::ImportValue), or None.
        self.imports = imports

    def resolve(self, value: Any, path: str = "") -> Any:
        """Resolve every intrinsic in ``value``; ``NO_VALUE`` drops a property."""
        if isinstance(value, list):
            items = [self.resolve(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg, path)
            if fn.startswith("Fn::"):
                return self.function(fn, arg, path)
            if fn == "Condition":
                return self.condition(arg, path)
        out: dict[str, Any] = {}
        for k, v in value.items():
            r = self.resolve(v, f"{path}.{k}" if path else k)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def ref(self, name: Any, path: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise TemplateError(f"{path}: Ref to unknown parameter or resource {name!r}")

    def condition(self, name: str, path: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"{path}: unknown condition {name!r}")
        return self.conditions[name]

    def function(self, fn: str, arg: Any, path: str) -> Any:
        where = f"{path}.{fn}" if path else fn
        if fn == "Fn::GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            if not isinstance(arg, list) or len(arg) != 2:
                raise TemplateError(f"{where}: takes [LogicalId, Attribute]")
            return self.attributes(arg[0], self.resolve(arg[1], where))
        if fn == "Fn::Sub":
            if isinstance(arg, list):
                if len(arg) != 2:
                    raise TemplateError(f"{where}: takes a string or [String, {{Name: Value}}]")
                text, extra = arg[0], self.resolve(arg[1], where)
            else:
                text, extra = arg, {}
            return self._sub(text, extra, where)
        if fn == "Fn::Join":
            sep, items = arg
            items = self.resolve(items, where)
            return str(sep).join(str(i) for i in items)
        if fn == "Fn::Select":
            index, items = self.resolve(arg, where)
            return items[int(index)]
        if fn == "Fn::Split":
            sep, text = self.resolve(arg, where)
            return str(text).split(sep)
        if fn == "Fn::Equals":  # CloudFormation compares the values' text: 1 equals "1"
            a, b = self.resolve(arg, where)
            return a == b or _text(a) == _text(b)
        if fn == "Fn::Not":
            return not self.resolve(arg[0], where)
        if fn == "Fn::And":
            return all(self.resolve(a, where) for a in arg)
        if fn == "Fn::Or":
            return any(self.resolve(a, where) for a in arg)
        if fn == "Fn::If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond, where) else no, where)
        if fn == "Fn::FindInMap":
            name, top, second = self.resolve(arg, where)
            try:
                return self.mappings[name][top][second]
            except KeyError:
                raise TemplateError(f"{where}: no mapping {name}.{top}.{second}") from None
        if fn == "Fn::Base64":
            import base64

            return base64.b64encode(str(self.resolve(arg, where)).encode()).decode()
        if fn == "Fn::GetAZs":
            region = self.pseudo["AWS::Region"]
            return [f"{region}{z}" for z in "abc"]
        if fn == "Fn::ToJsonString":
            return json.dumps(self.resolve(arg, where))
        if fn == "Fn::ImportValue" and self.imports is not None:
            name = self.resolve(arg, where)
            value = self.imports(str(name))
            if value is None:
                # CloudFormation's words for it.
                raise TemplateError(f"No export named {name} found.")
            return value
        raise TemplateError(f"{where}: the simulator does not support {fn}")

    def _sub(self, text: str, extra: Mapping[str, Any], where: str) -> str:
        def replace(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and name.split(".", 1)[0] in self.refs:
                logical, attr = name.split(".", 1)
                return str(self.attributes(logical, attr))
            return str(self.ref(name, where))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))


def _text(value: Any) -> Any:
    """A scalar as CloudFormation's text for it (``true``, ``1``); other values as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def dependencies(value: Any) -> set[str]:
    """Logical ids that ``value`` refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= dependencies(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                if isinstance(v, str):
                    found.add(v.split(".", 1)[0])
                elif isinstance(v, list) and v and isinstance(v[0], str):
                    found.add(v[0])
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) and v else v
                for name in re.findall(r"\$\{([^}!][^}]*)\}", str(text)):
                    found.add(name.split(".", 1)[0])
                if isinstance(v, list) and len(v) > 1:
                    found |= dependencies(v[1])
            else:
                found |= dependencies(v)
    return found
