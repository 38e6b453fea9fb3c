"""Benchmark: how fast the policy router decides, and what routing saves on a simulated workload.

Policy: the starter agents.md at --workspace, via `WorkspaceModel(LocalFileStore(root)).load()`.

* decision latency: --contexts different ~4,000-token contexts (tiktoken, openai/gpt-4o-mini;
  mean must lie in 3,800-4,200): the whole agents.md body, as every step sends it, then a space
  readme with dated memory lines, a skill and a task with dates, amounts and ticket numbers;
  1 in 5 has one planted email, phone number, IBAN or API key in the middle. One timed call is
  all of `Router(policy).decide(Step(...))`, sensitivity scan of description + context included;
  --decisions calls after --warmup. Targets: p50 <= 1 ms, p99 <= 5 ms. (Dates carry no time of
  day after them: the detector reads "2026-03-14 09:30" as a phone number.)
* simulated workload: --steps seeded steps (plan 10%, work 45%, summarise 20%, memory 10%,
  approval 5%, an unrouted kind 10%); 25% sensitive (half in a private space, half with a
  planted secret); per-kind prompt/output sizes with a log-normal spread. Each is routed by the
  starter policy (no model is called) and priced with litellm's bundled price map for the
  chosen model; local models cost 0. A real run would also fail over on errors and cooldowns:
  this prices the first choice only. The baseline sends every step, sensitive ones too, to
  cloud-strong. Steps no model may run (sensitive, too big for the local window) are left out.

Exit 0 whatever the figures (benchmarks report, they do not gate); 1 when the privacy invariant
breaks: a sensitive step routed to a cloud model, or a planted secret not flagged.

    .venv/bin/python bench/routing.py [--workspace .] [--decisions 2000] [--steps 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before anything imports litellm

from cairn.core.routing.router import Router, Step, spec_is_local
from cairn.core.tasks.provenance import Provenance
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schema import AgentsPolicy
from cairn.engines import tokens
from cairn.engines.cloud import litellm_module
from cairn.infra.files import LocalFileStore

TOKEN_MODEL = "openai/gpt-4o-mini"
TARGET_TOKENS = 4000
Contexts = list[tuple[str, bool]]  # text, whether a secret was planted in it
VOCABULARY = """Dana|Ilse|Marco|Priya|Tomas|Wen|Aisha|Lars|Noor|Felix|Hana|Ruben
platform|growth|finance|legal|support|research|design|sales
vendor contract|quarterly roadmap|hiring plan|incident review|launch checklist|pricing page
onboarding flow|customer interview notes|board update|budget forecast|release notes
support backlog|security questionnaire|migration plan|weekly metrics
review|draft|summarise|compare|tighten|check|update|outline|prioritise|reconcile
DE89 3704 0044 0532 0130 00|GB82 WEST 1234 5698 7654 32|FR14 2004 1010 0505 0001 3M02 606"""
LINES = [line.split("|") for line in VOCABULARY.splitlines()]
PEOPLE, TEAMS, VERBS, IBANS = LINES[0], LINES[1], LINES[5], LINES[6]
THINGS = LINES[2] + LINES[3] + LINES[4]
PLAIN = [
    "{p} owns the {t} and wants a decision before the next planning cycle",
    "open question: should we {v} the {t} now or wait for {p}'s numbers",
    "{p} said the {t} is blocked on legal review; follow up with the {team} team",
    "keep the {t} short and lead with the recommendation, then the reasons",
    "{p} prefers short bullet lists over prose when the {team} team reads a {t}",
    "last time the {t} slipped because nobody owned the follow-up; name an owner",
    "the {t} should cite the source files by path so {p} can check the numbers",
    "when {p} is out, {p2} signs off the {t} for the {team} team",
    "{v} the {t} against last quarter's version and list what changed and why",
    "ask {p} before anything in the {t} is shared outside the {team} team",
    "flag any claim in the {t} that has no source, and say what would confirm it",
    "the {team} team reads the {t} on Monday mornings, so it must stand on its own",
]
NUMERIC = [
    "{p} wants a decision on the {t} by {d}",
    "the {team} team agreed on {d} to {v} the {t}",
    "the budget for the {t} is EUR {amount} for Q{q}, and {p} approves anything above",
    "ticket #{ticket} tracks the {t}; version {ver} shipped on {d}",
    "revenue was {amount} in Q{q}, up {pct}% on the quarter before; say why in one line",
    "keep the {t} under {n} words; the last one ran to {ticket} characters",
]
SECTIONS = {  # section: (headings, share of sentences with numbers, share of list paragraphs)
    "space readme": (("Priorities", "People", "Open loops", "Memory"), 0.3, 0.5),
    "skill": (("Inputs", "Steps", "Output", "Pitfalls"), 0.1, 0.5),
    "task": (("Request", "Notes from the thread", "Material"), 0.3, 0.3),
}
KINDS = {  # kind: (share, prompt tokens, output tokens); `research`: no route, so `work`
    "plan": (0.10, 3000, 600), "work": (0.45, 4000, 800), "summarise": (0.20, 6000, 300),
    "memory": (0.10, 2000, 150), "approval": (0.05, 800, 20), "research": (0.10, 3500, 700),
}  # fmt: skip


def date(rng: random.Random) -> str:
    return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def sentence(rng: random.Random, numeric: float) -> str:
    text = rng.choice(NUMERIC if rng.random() < numeric else PLAIN).format(
        p=rng.choice(PEOPLE), p2=rng.choice(PEOPLE), t=rng.choice(THINGS), v=rng.choice(VERBS),
        team=rng.choice(TEAMS), d=date(rng), n=rng.choice((150, 300, 500)), q=rng.randint(1, 4),
        amount=f"{rng.randint(5, 900) * 1000:,}", ticket=rng.randint(1000, 99999),
        ver=f"{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}", pct=rng.randint(2, 40),
    )  # fmt: skip
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random, heading: str, numeric: float, lists: float) -> str:
    if heading == "Memory":  # dated lines, as space readmes end
        return "\n".join(f"- {date(rng)}: {sentence(rng, 0.2)}" for _ in range(rng.randint(4, 8)))
    if rng.random() < lists:
        n = rng.randint(3, 6)
        return "\n".join(f"{i}. {sentence(rng, numeric)}" for i in range(1, n + 1))
    return " ".join(sentence(rng, numeric) for _ in range(rng.randint(3, 7)))


def plant(rng: random.Random) -> str:
    name = rng.choice(PEOPLE).lower()
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return rng.choice((
        f"Send the signed copy to {name}.{rng.choice(TEAMS)}@example-corp.com today.",
        f"Call {name.title()} on +49 30 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}.",
        f"Pay the vendor invoice to IBAN {rng.choice(IBANS)} by Friday.",
        f"The staging key is sk-proj-{''.join(rng.choices(alnum, k=40))} for now.",
    ))  # fmt: skip


def make_context(rng: random.Random, agents_body: list[str], planted: bool) -> str:
    """The agents.md body, then a space readme, a skill and a task of about equal size."""
    parts = ["# Cairn", *agents_body]  # the whole body, as every step sends it
    count = sum(tokens.count_text(TOKEN_MODEL, p) + 1 for p in parts)
    base, share = count, (TARGET_TOKENS - count) / len(SECTIONS)
    for i, (section, (headings, numeric, lists)) in enumerate(SECTIONS.items()):
        parts.append(f"# {rng.choice(TEAMS).title()} {section}")
        end, h = base + share * (i + 1) - 20, 0
        while count < end:
            parts.append(f"## {headings[h % len(headings)]}")
            parts.append(paragraph(rng, headings[h % len(headings)], numeric, lists))
            count += sum(tokens.count_text(TOKEN_MODEL, p) + 1 for p in parts[-2:])
            h += rng.random() < 0.5
    if planted:
        middle = len(parts) // 2
        parts[middle] = f"{parts[middle]} {plant(rng)}"
    return "\n\n".join(parts)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def latency(
    policy: AgentsPolicy, args: argparse.Namespace, rng: random.Random, contexts: Contexts
) -> tuple[str, bool]:
    mean_tokens = statistics.mean(tokens.count_text(TOKEN_MODEL, c) for c, _ in contexts)
    sizes = [len(c) for c, _ in contexts]
    print(
        f"{len(contexts)} contexts ({sum(p for _, p in contexts)} with a planted secret): mean "
        f"{mean_tokens:,.0f} tokens ({TOKEN_MODEL}), {min(sizes):,}-{max(sizes):,} characters "
        f"(target 3,800-4,200 tokens) {verdict(3800 <= mean_tokens <= 4200)}"
    )
    flags = [(Router(policy).assess(Step("check", context=c)).sensitive, p) for c, p in contexts]
    missed, false_pos = flags.count((False, True)), flags.count((True, False))
    print(f"scan check: planted not flagged {missed}, clean contexts flagged {false_pos}")
    samples = []
    for i in range(args.warmup + args.decisions):
        ctx, _ = contexts[i % len(contexts)]
        kind, scope = rng.choice(tuple(KINDS)), rng.choice(("team", "company", "private"))
        description = f"{rng.choice(VERBS).title()} the {rng.choice(THINGS)}"
        start = time.perf_counter()
        Router(policy).decide(Step(description, kind, context=ctx, space="ops", space_scope=scope))
        if i >= args.warmup:
            samples.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    ok = p50 <= 1 and p99 <= 5
    line = (
        f"routing decision ({mean_tokens:,.0f}-token context, incl. sensitivity scan): p50 "
        f"{p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms, max {max(samples):.2f} ms over "
        f"{len(samples):,} decisions (targets p50 <= 1 ms, p99 <= 5 ms) {verdict(ok)}"
    )
    print(line)
    tracking(policy, args, rng, contexts)
    return line, missed == 0


def tracking(
    policy: AgentsPolicy, args: argparse.Namespace, rng: random.Random, contexts: Contexts
) -> None:
    """What content-sensitivity tracking adds: the same step built by hand (baseline) and
    through a task's `Provenance` (which carries a private readme and a marked note the task
    read, and checks the scope of a write), timed alternately in one run; and the cost of
    noting one file a tool read (once per read, not per step)."""
    workspace = WorkspaceModel(LocalFileStore(args.workspace.resolve())).load()
    readme = "---\nscope: private\n---\n# Notes\nThe codename is Bluefin.\n"
    marked = "---\nsensitive: true\n---\nSalary bands.\n"
    provenance = Provenance(workspace, "team")
    plain: list[float] = []
    tracked: list[float] = []
    noted: list[float] = []
    router = Router(policy)
    for i in range(args.warmup + args.decisions):
        ctx, _ = contexts[i % len(contexts)]
        kind = rng.choice(tuple(KINDS))
        description = f"{rng.choice(VERBS).title()} the {rng.choice(THINGS)}"
        start = time.perf_counter()
        router.decide(Step(description, kind, blocks=(ctx,), space="team", space_scope="team"))
        middle = time.perf_counter()
        router.decide(provenance.step(description, kind, (ctx,)))
        provenance.crossing("spaces/company/drafts/memo.md")
        end = time.perf_counter()
        provenance.sources.clear()
        provenance.note_file(
            "spaces/chief-of-staff/readme.md", "spaces/chief-of-staff/readme.md", readme
        )
        provenance.note_file("spaces/team/pay.md", "spaces/team/pay.md", marked)
        done = time.perf_counter()
        if i >= args.warmup:
            plain.append((middle - start) * 1000)
            tracked.append((end - middle) * 1000)
            noted.append((done - end) * 1000 / 2)
    base, with_tracking = statistics.median(plain), statistics.median(tracked)
    print(
        f"content-sensitivity tracking: a decision p50 {base:.3f} ms with a hand-built step vs "
        f"{with_tracking:.3f} ms through a task's provenance (2 sources carried, write scope "
        f"checked): adds {with_tracking - base:.3f} ms per step, ratio {with_tracking / base:.2f}; "
        f"noting a file a tool read: p50 {statistics.median(noted):.3f} ms per read"
    )


def workload(
    policy: AgentsPolicy, args: argparse.Namespace, rng: random.Random, contexts: Contexts
) -> tuple[str, bool]:
    litellm = litellm_module()
    clean, planted = ([c for c, p in contexts if p is want] for want in (False, True))
    strongest = policy.models[args.strongest].model
    router, names = Router(policy), list(KINDS)
    routed = baseline = 0.0
    local = sensitive_cloud = refused = sensitive_n = 0
    chosen: dict[str, int] = {}
    for _ in range(args.steps):
        kind = rng.choices(names, weights=[KINDS[k][0] for k in names])[0]
        _, size_in, size_out = KINDS[kind]
        prompt = int(size_in * rng.lognormvariate(0, 0.25))
        output = max(1, int(size_out * rng.lognormvariate(0, 0.35)))
        roll = rng.random()
        private, has_secret = roll < 0.125, 0.125 <= roll < 0.25
        sensitive_n += private or has_secret
        step = Step(
            f"{rng.choice(VERBS).title()} the {rng.choice(THINGS)}",
            kind,
            context=rng.choice(planted if has_secret else clean),
            space="notes" if private else rng.choice(TEAMS),
            space_scope="private" if private else rng.choice(("team", "company")),
            prompt_tokens=prompt,
        )
        decision = router.decide(step)
        if decision.chosen is None:
            refused += 1
            continue
        spec = policy.models[decision.chosen]
        chosen[decision.chosen] = chosen.get(decision.chosen, 0) + 1
        if spec_is_local(spec):
            local += 1
        else:
            sensitive_cloud += private or has_secret
            routed += sum(litellm.cost_per_token(spec.model, prompt, output))
        baseline += sum(litellm.cost_per_token(strongest, prompt, output))
    ran = args.steps - refused
    print(
        f"workload: {args.steps:,} steps, {sensitive_n} sensitive; no model allowed for {refused}"
        f" (left out of both totals); first choices: "
        f"{', '.join(f'{m} {n}' for m, n in sorted(chosen.items()))}; baseline {strongest}"
    )
    ok = sensitive_cloud == 0
    line = (
        f"simulated workload ({args.steps:,} steps): routed ${routed:.2f} vs all to "
        f"{args.strongest} ${baseline:.2f} → cost ratio {routed / baseline:.2f}; kept local: "
        f"{100 * local / ran:.1f}%; sensitive steps sent to the cloud: {sensitive_cloud} "
        f"{verdict(ok)}"
    )
    print(line)
    return line, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--contexts", type=int, default=50, help="distinct contexts (50)")
    parser.add_argument("--decisions", type=int, default=2000, help="timed decisions (2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed decisions first (200)")
    parser.add_argument("--steps", type=int, default=1000, help="workload steps (1000)")
    parser.add_argument("--strongest", default="cloud-strong", help="baseline model name")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    workspace = WorkspaceModel(LocalFileStore(args.workspace.resolve())).load()
    if workspace.agents is None:
        raise SystemExit(f"no agents.md in {args.workspace}")
    policy = workspace.agents.policy
    rng = random.Random(args.seed)
    body = workspace.agents.instructions.split("\n\n")
    agents_body = [p.strip() for p in body if p.strip()] or ["You are Cairn."]
    planted = [i % 5 == 4 for i in range(args.contexts)]  # 1 in 5
    contexts = [(make_context(rng, agents_body, p), p) for p in planted]
    first, scan_ok = latency(policy, args, rng, contexts)
    second, route_ok = workload(policy, args, rng, contexts)
    print(f"\nsummary\n{first}\n{second}")
    return 0 if scan_ok and route_ok else 1


if __name__ == "__main__":
    sys.exit(main())
