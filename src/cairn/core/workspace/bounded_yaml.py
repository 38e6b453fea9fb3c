"""Frontmatter YAML read in bounded time: alias bombs, deep nesting and huge expansions
are refused before any Python object is built from them.

`compose_frontmatter` is the only way Cairn turns frontmatter text into a YAML node graph
(`documents.parse_document` and `edit.update_frontmatter` both use it).
"""

from __future__ import annotations

from typing import Any

import yaml

from cairn.core.errors import CairnError

# libyaml's loader when PyYAML was built with it: several times faster than pure Python.
YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Limits on frontmatter YAML. A few hundred bytes of nested anchors and aliases ("billion
# laughs") expand to billions of values once Python objects are built, copied (`freeze`)
# and validated, and deep nesting crashes libyaml's recursive composer. Every file must
# load in bounded time, so the node graph is measured before any object is built. Real
# frontmatter is a few dozen settings, a few levels deep, with at most a handful of
# aliases; these limits are orders of magnitude above that.
MAX_YAML_ALIASES = 100
"""Alias uses (`*name`) in one frontmatter block."""
MAX_YAML_DEPTH = 64
"""Levels of nested lists and maps (the top-level map is level 1)."""
MAX_YAML_NODES = 100_000
"""Values (keys, scalars, lists, maps) the frontmatter holds with every alias expanded."""
MAX_YAML_CHARS = 2_000_000
"""Characters of text in all scalars with every alias expanded (twice the file limit)."""
# Below this size, with at most MAX_YAML_DEPTH brackets, libyaml cannot nest deep enough
# (every block level costs at least two characters) or build enough nodes to be slow, so
# the event pre-pass is skipped; that keeps ordinary files on the fast C composer alone.
_PREPASS_FROM_CHARS = 4096


class YamlTooComplexError(CairnError):
    """Frontmatter YAML over one of the limits above; no Python object was built from it."""

    def __init__(self, problem: str, fix: str, line: int | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.line = line  # 0-based within the YAML text, when known
        super().__init__(f"frontmatter is too complex to read safely: {problem}; {fix}")


_FIX_ALIASES = (
    "remove the anchors (&name) and aliases (*name), or the merge keys (<<: *name), and "
    "write the values out plainly"
)
_FIX_DEPTH = "flatten the frontmatter: it holds settings, not deeply nested data"
FIX_SIZE = (
    "keep the frontmatter to settings: remove the anchors (&name) and aliases (*name) that "
    "repeat large values, and move long lists or text into the body or a separate file"
)


def _too_deep(line: int | None) -> YamlTooComplexError:
    return YamlTooComplexError(
        f"values are nested more than {MAX_YAML_DEPTH} levels deep", _FIX_DEPTH, line
    )


def _too_many_aliases(line: int | None) -> YamlTooComplexError:
    return YamlTooComplexError(
        f"aliases (*name) are used more than {MAX_YAML_ALIASES} times", _FIX_ALIASES, line
    )


def _too_many_nodes(line: int | None) -> YamlTooComplexError:
    return YamlTooComplexError(
        f"it holds more than {MAX_YAML_NODES:,} values, counting each alias (*name) as a "
        "full copy of its value",
        FIX_SIZE,
        line,
    )


def _too_many_chars(line: int | None) -> YamlTooComplexError:
    return YamlTooComplexError(
        f"its text adds up to more than {MAX_YAML_CHARS:,} characters, counting each alias "
        "(*name) as a full copy of its value",
        FIX_SIZE,
        line,
    )


def _line(item: yaml.Node | yaml.Event) -> int | None:
    return item.start_mark.line if item.start_mark is not None else None


def compose_frontmatter(fm_text: str) -> yaml.Node | None:
    """Frontmatter YAML to its node graph, checked against the limits above.

    Raises YamlTooComplexError over a limit and yaml.YAMLError for invalid YAML; returns
    in time bounded by the limits whatever the text.
    """
    loader = YamlLoader(fm_text)
    try:
        return compose_bounded(loader, fm_text)
    finally:
        loader.dispose()


def compose_bounded(loader: Any, fm_text: str) -> yaml.Node | None:
    streamed = (
        len(fm_text) >= _PREPASS_FROM_CHARS
        or fm_text.count("[") + fm_text.count("{") > MAX_YAML_DEPTH
    )
    try:
        if streamed:
            _check_events(fm_text)
        node: yaml.Node | None = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        # libyaml 0.2.6 stops at 1,000 levels by itself; say so as the limit it is.
        if "maximum nesting depth" not in (exc.problem or ""):
            raise
        raise _too_deep(exc.problem_mark.line if exc.problem_mark else None) from exc
    except RecursionError as exc:
        raise _too_deep(None) from exc
    except MemoryError as exc:
        raise _too_many_nodes(None) from exc
    if node is None:
        return None
    if "&" in fm_text:
        _check_graph(node)  # anchors: aliases may share nodes, so measure the expansion
    elif not streamed:
        # No anchor, so no alias: the graph is a tree of under _PREPASS_FROM_CHARS
        # characters, far below the size limits; only its depth is left to check (the
        # event stream, when it ran, has checked everything already).
        _check_depth(node)
    return node


_OPEN_EVENTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE_EVENTS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_events(fm_text: str) -> None:
    """Stream libyaml's events (no nodes, no recursion) and stop at the first excess.

    libyaml composes recursively, so deep nesting overflows the C stack, and its scanner
    slows quadratically with the depth of flow brackets; the stream stops long before.
    """
    loader = YamlLoader(fm_text)
    depth = nodes = aliases = 0
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, yaml.ScalarEvent):
                nodes += 1
            elif isinstance(event, _OPEN_EVENTS):
                nodes += 1
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise _too_deep(_line(event))
            elif isinstance(event, _CLOSE_EVENTS):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise _too_many_aliases(_line(event))
            if nodes > MAX_YAML_NODES:
                raise _too_many_nodes(_line(event))
    finally:
        loader.dispose()


def _check_graph(root: yaml.Node) -> None:
    """Measure the node graph as if every alias were expanded, in time linear in the graph.

    PyYAML composes an alias as a second reference to its anchor's node, so the graph is
    small while its expansion may be exponential. Each node's expanded size, text length
    and depth is computed once, post-order with an explicit stack (memoised by id), and the
    walk stops at the first value over a limit.
    """
    measured: dict[int, tuple[int, int, int]] = {}  # id -> (values, characters, depth)
    on_path: set[int] = set()  # nodes being measured: reaching one again is a cycle
    seen = {id(root)}
    aliases = 0
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while stack:
        node, children = stack.pop()
        key = id(node)
        if children is not None:  # every child is measured: measure the node itself
            on_path.discard(key)
            nodes, chars, depth = 1, 0, 0
            for child in children:
                child_nodes, child_chars, child_depth = measured[id(child)]
                nodes += child_nodes
                chars += child_chars
                depth = max(depth, child_depth)
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise _too_deep(_line(node))
            if nodes > MAX_YAML_NODES:
                raise _too_many_nodes(_line(node))
            if chars > MAX_YAML_CHARS:
                raise _too_many_chars(_line(node))
            measured[key] = (nodes, chars, depth)
            continue
        if key in measured:
            continue
        if isinstance(node, yaml.ScalarNode):
            measured[key] = (1, len(node.value), 0)
            continue
        children = _children(node)
        on_path.add(key)
        stack.append((node, children))
        for child in reversed(children):
            child_key = id(child)
            if child_key in on_path:
                raise YamlTooComplexError(
                    "an alias (*name) refers to the value that contains it, so it would "
                    "repeat forever",
                    _FIX_ALIASES,
                    _line(node),
                )
            if child_key in seen:
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise _too_many_aliases(_line(node))
            else:
                seen.add(child_key)
            if child_key not in measured:
                stack.append((child, None))


def _check_depth(root: yaml.Node) -> None:
    """Depth of a node tree (no shared nodes), visiting only its lists and maps."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_YAML_DEPTH:
            raise _too_deep(_line(node))
        for child in _children(node):
            if not isinstance(child, yaml.ScalarNode):
                stack.append((child, depth + 1))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []  # a scalar (frontmatter that is one plain value) has no children
