"""The canary: sensitive content never reaches a cloud model, through any real call site.

Generated tasks run through the real runner (`cairn.runtime.build_runner`: router,
dispatcher, budget guard, ledger, approval judge, memory step) over a real workspace on
disk. A loopback "cloud" records every byte it receives; a loopback "local" model answers
with scripted tool calls. Each planted task's cloud model first asks to read a file holding
a planted value (personal data, a secret, a private-space note or a file marked sensitive);
from then on the local model carries the value into every later call site: an operator's
review, a write (and so the approval judge), a proposed memory, the answer, and the memory
step. The policy routes reviews, the judge and memory to cloud-first roles, so only the
content's sensitivity can keep them local. Afterwards no planted value may appear in
anything the cloud received, while the clean tasks did reach it (the canary is alive).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from cairn.core.routing.dispatch import Routed
from cairn.core.tasks.loop import TaskOptions
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.runtime import build_runner
from cairn.testing.openai_stub import OpenAIStub
from tests.conftest import copy_starter
from tests.hostile.conftest import hostile_policy, tool, write_policy

pytestmark = pytest.mark.slow


def planted(rng: random.Random, n: int) -> tuple[str, str, str]:
    """(shape, the planted value, the file that holds it) for task n."""
    shape = rng.choice(
        ["email", "phone", "iban", "card", "ssn", "key", "aws", "password", "private", "marked"]
    )
    value = {
        "email": f"canary{n}.person@example.org",
        "phone": f"+44 20 7946 {n % 10000:04d}",
        "iban": "DE89 3704 0044 0532 0130 00",
        "card": "4111 1111 1111 1111",
        "ssn": f"123-45-{6000 + n % 3000:04d}",
        "key": f"sk-proj-canary{n:06d}abcdefghijklmnopqrstuv",
        "aws": f"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY{n:010d}",
        "password": f"password: Canary-{n}-Secret",
        "private": f"Private note {n}: the merger codename is Bluefin{n}.",
        "marked": f"Salary band {n}: level 5 earns {100 + n}k.",
    }[shape]
    if shape == "private":
        return shape, value, f"spaces/chief-of-staff/notes/n{n}.md"
    if shape == "marked":
        return shape, value, f"spaces/team/notes/n{n}.md"
    return shape, value, f"spaces/team/notes/n{n}.md"


def test_no_sensitive_content_reaches_the_cloud_from_any_call_site(tmp_path: Path) -> None:
    rng = random.Random(20261129)
    with OpenAIStub() as cloud, OpenAIStub() as local:
        root = copy_starter(tmp_path / "ws")
        policy = hostile_policy(cloud, local)
        # Reviews (work), the judge and the memory step all prefer the cloud: only the
        # content's sensitivity may keep them local.
        policy["routing"] = {**policy["routing"], "approval": "fast", "memory": "fast"}
        write_policy(root, policy)
        cloud.state.reply = "Cloud answer."
        local.state.reply = '{"items": []}'
        values: list[str] = []
        kinds_local: Counter[str] = Counter()
        clean_tasks = 0
        for n in range(36):
            model = WorkspaceModel(LocalFileStore(root))
            model.load()
            runner, _ = build_runner(model, root, task_id=f"canary-{n}")
            if rng.random() < 0.3:
                clean_tasks += 1
                cloud.state.script = ["All clear."]
                events = list(runner.run(f"Say hello {n}", TaskOptions(plan="never")))
                assert any(type(e).__name__ == "TaskFinished" for e in events)
                continue
            shape, value, path = planted(rng, n)
            values.append(value)
            front = "---\nsensitive: true\n---\n" if shape == "marked" else ""
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"{front}Notes for task {n}.\n{value}\nEnd of notes.\n")
            space = "chief-of-staff" if shape == "private" else "team"
            cloud.state.script = [tool("read_file", path=path)]
            local.state.script = [
                tool("consult_operator", operator="security-reviewer", draft=value),
                f"Review of the draft: {value} looks fine.",
                tool("write_file", path=f"spaces/{space}/drafts/n{n}.md", content=value),
                '{"risk": "low"}',
                tool("propose_memory", text=f"Remember {value}", source="tool-output"),
                f"Done with {value}.",
                json.dumps({"items": [{"text": value, "source": "tool-output", "value": 0.9}]}),
            ]
            options = TaskOptions(space=None if n % 2 else space, plan="never", approvals="yes")
            events = list(runner.run(f"Work on task {n}", options))
            assert any(type(e).__name__ == "TaskFinished" for e in events), events[-1]
            routed = [e.decision for e in events if isinstance(e, Routed) and e.decision.chosen]
            for decision in routed[1:]:
                assert decision.chosen == "local-small", decision.explain()
                kinds_local[decision.kind] += 1
        received = "\n".join(json.dumps(r.body) for r in cloud.requests)
        for value in values:
            assert value not in received, f"leaked: {value!r}"
        # Every call site ran, locally: steps and reviews (work), the judge, the memory step.
        assert kinds_local["work"] >= 40 and kinds_local["approval"] >= 10
        assert kinds_local["memory"] >= 10
        assert clean_tasks >= 5 and len(cloud.requests) >= clean_tasks + len(values)


def test_with_the_local_model_down_sensitive_steps_stop_and_send_nothing(tmp_path: Path) -> None:
    with OpenAIStub() as cloud, OpenAIStub() as local:
        root = copy_starter(tmp_path / "ws")
        policy = hostile_policy(cloud, local)
        policy["models"]["local-small"]["api_base"] = local.url("500")  # the local model fails
        write_policy(root, policy)
        model = WorkspaceModel(LocalFileStore(root))
        model.load()
        runner, _ = build_runner(model, root, task_id="canary-down")
        events = list(
            runner.run("What are my priorities?", TaskOptions(space="chief-of-staff", plan="never"))
        )
        failed = events[-1]
        assert type(failed).__name__ == "TaskFailed", failed
        assert cloud.requests == []
