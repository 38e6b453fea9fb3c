"""Benchmark: how well and how fast the memory index (SQLite FTS5, BM25) recalls archived notes.

* recall quality: --recall-notes (10,000) seeded archive notes across 4 spaces, short notes
  from a knowledge worker's life (meetings, vendors, decisions, codes, preferences, people,
  dates). 200 of them are planted facts, each answering one query phrased differently from
  the note (shared key terms, not a copy: note "The third-floor printer code is 4471.",
  query "which code unlocks the printer on the third floor"). Distractors share the
  vocabulary: 8% are near misses (the same kind of fact about another vendor, city or
  person), the rest everyday notes about the same people, vendors and projects. After a
  rebuild, the 200 queries run over all spaces: recall@5 and MRR@10. This is the baseline
  a later semantic (embedding) step must beat; it is reported, not judged.
* speed, over --notes (100,000) archive notes plus 20 topic files of 200 lines each:
  (a) rebuild rate, archive notes per second of the whole rebuild (target >= 2,000/s);
  (b) recall latency of 500 queries (the 200 above and 300 of mixed vocabulary), p50/p95,
      over all spaces and again filtered to two spaces (target p95 <= 20 ms), with the
      recall@5 of the 200 planted queries at this size;
  (c) incremental reindex: --changes edits of one archive note and of one ~200-line topic
      file, each followed by `update([path])`: median and max (target <= 20 ms).
  Plus the start-up `repair()` of an unchanged workspace, for information.

Notes are written with plain file writes into a temporary folder (or --dir). Exit 0 whatever
the figures (benchmarks report, they do not gate); 1 when an index answer is wrong (an edit
not found after its update, or a planted fact that cannot be found by its own words).

    .venv/bin/python bench/memory_recall.py [--notes 100000] [--recall-notes 10000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cairn.infra.memory_index import MemoryIndex

SPACES = ("work", "home", "launch", "clients")
POOLS: dict[str, tuple[str, ...]] = {
    name: tuple(text.split())
    for name, text in {
        "first": """Maya Jonas Priya Tomas Elena Kofi Ines Marek Sofia Darius Lena Ravi Aiko
            Mateo Freya Omar Nadia Felix Greta Hugo Ivy Jamal Karin Luca Mina Nils Olga Pablo
            Quinn Rosa Sami Tara Umar Vera Wanda Xavier Yusuf Zara Anouk Bruno Clara Dmitri
            Esme Farid Gemma Hiro Ingrid Joel Kasia Leon Marta Noor Oskar Petra Rafael Selin
            Theo Ulla Viktor Willa Yara Zoltan Amara Bastian Celeste Diego Edith""",
        "last": """Okafor Lindqvist Moreau Tanaka Novak Haddad Costa Berg Keller Rossi Silva
            Nguyen Kowalski Murphy Fischer Ahmed Larsen Duarte Weber Sato Ortiz Petrov Brandt
            Dubois Varga Horvat Meyer Jensen Castro Ito Nakamura Quispe Ferreira Schmidt""",
        "vendor": """Northwind Globex Initech Hooli Vandelay Soylent Cyberdyne Tyrell Oscorp
            Umbrella Monarch Acmefy Blueshift Copperleaf Dunmore Evergrid Foxglove Graniteway
            Helios Ironbark Juniperly Kitesurf Lumina Meridian Nexora Oakfield Pinnacle Quillon
            Redwood Saltmarsh Tidewater Ultraviolet Verity Westbrook Yellowfin Zenith""",
        "project": """Atlas Beacon Comet Drift Ember Falcon Granite Harbor Iris Juniper Kestrel
            Lumen Maple Nimbus Orchid Pinecone Quartz Raven Sierra Tundra Umber Vortex Willow
            Xenon Yarrow Zephyr""",
        "city": """Berlin Lisbon Toronto Osaka Nairobi Denver Dublin Madrid Oslo Austin Seoul
            Lyon Porto Boston Krakow Melbourne Zurich Chicago Prague Vienna Tallinn Bogota""",
        "service": """payroll hosting cleaning translation catering shipping printing
            recruiting bookkeeping insurance couriers landscaping""",
        "team": "design finance platform sales support legal data mobile growth ops research",
        "month": """January February March April May June July August September October
            November December""",
        "weekday": "Monday Tuesday Wednesday Thursday Friday",
        "ordinal": "second third fourth fifth sixth seventh eighth ninth tenth eleventh",
        "food": "peanuts shellfish gluten dairy sesame eggs soy kiwi mustard celery",
        "coffee": "flat-white cortado americano macchiato latte espresso cappuccino",
        "language": """Portuguese Japanese Swahili Polish Korean Turkish Dutch Greek Hindi
            Finnish Czech Hungarian""",
        "restaurant": """Luigi's Sakura Tandoori-Nights Green-Bowl Taqueria-Sol Pho-Hanoi
            Falafel-Corner Burger-Barn Noodle-Bar Bistro-Nord""",
        "tool": "Sentry Rollbar Bugsnag Honeybadger Airbrake Raygun",
        "hotel": "Grand-Meridian Parkview Harbourside Lindenhof Alpina Riverside Belvedere",
        "airline": "Lufthansa KLM Iberia Finnair Delta United TAP SAS",
        "nick": "Maz Jo Pri Tommy Ellie Kof Izzy Mo Sof Dash Len Rav Ace Matt Fred",
        "child": "Lily Noah Emma Leo Ava Finn Isla Max Chloe Ezra Ruby Otto Nora Ben",
        "action": """send-the-summary book-a-follow-up update-the-forecast draft-the-brief
            check-the-contract review-the-numbers share-the-deck ping-legal""",
        "topic": "roadmap budget hiring pricing timeline risks metrics scope staffing",
    }.items()
}


class Pick:
    """Slot values for one note, drawn on first use and then fixed, so a note and its
    query name the same vendor, person or city."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._values: dict[str, str] = {}

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._values:
            self._values[name] = self._draw(name)
        return self._values[name]

    def _draw(self, name: str) -> str:
        r = self._rng
        base = name.rstrip("2")
        if base == "person":
            return f"{getattr(self, 'first' + name[6:])} {getattr(self, 'last' + name[6:])}"
        if base in POOLS:
            choice = r.choice(POOLS[base])
            while name.endswith("2") and choice == getattr(self, base):
                choice = r.choice(POOLS[base])
            return choice.replace("-", " ") if base in ("action", "restaurant") else choice
        generated: dict[str, Callable[[], str]] = {
            "code": lambda: str(r.randint(1000, 9999)),
            "acct": lambda: f"{r.choice('ABCDEFGHJK')}{r.randint(100000, 999999)}",
            "phone": lambda: f"+1 555 {r.randint(100, 999)} {r.randint(1000, 9999)}",
            "pw": lambda: f"{r.choice(POOLS['project']).lower()}-{r.randint(10, 99)}!",
            "num": lambda: str(r.randint(1, 40)),
            "day": lambda: str(r.randint(1, 28)),
            "time": lambda: f"{r.randint(8, 17)}:{r.choice(('00', '15', '30', '45'))}",
            "money": lambda: f"${r.randint(2, 90) * 1000:,}",
            "flight": lambda: f"{r.choice('LKIAUD')}{r.randint(100, 999)}",
            "room": lambda: f"{r.randint(1, 6)}{r.choice('ABCD')}",
            "host": lambda: f"stg-{r.randint(1, 40)}.int.example.net",
        }
        return generated[base]()


# (note, query): shared key terms, different phrasing.
FACTS = (
    ("The {p.ordinal}-floor printer code is {p.code}.",
     "which code unlocks the printer on the {p.ordinal} floor"),
    ("{p.person} prefers to be called {p.nick} in meetings.",
     "what nickname does {p.first} like to be called"),
    ("Our customer account number with {p.vendor} is {p.acct}.",
     "{p.vendor} account number?"),
    ("Decided to go with {p.vendor} for {p.service} after the pricing review.",
     "which vendor did we pick for {p.service}"),
    ("{p.person}'s birthday is on {p.month} {p.day}.", "when is {p.first}'s birthday"),
    ("Wifi password for the {p.city} office: {p.pw}", "what's the wireless password in {p.city}"),
    ("{p.person} is allergic to {p.food}, so skip it at team lunches.",
     "does {p.first} have any food allergies"),
    ("Weekly one-on-one with {p.person} moved to {p.weekday}s at {p.time}.",
     "when is my weekly one-on-one with {p.first} now"),
    ("The {p.project} launch slipped to {p.month} {p.day} because of the security audit.",
     "new launch date for {p.project}"),
    ("{p.vendor} support hotline: {p.phone}, ask for the enterprise desk.",
     "phone number for {p.vendor} support"),
    ("The {p.vendor} contract renews on {p.month} {p.day}; notice period is 60 days.",
     "when does our contract with {p.vendor} come up for renewal"),
    ("Park in garage level {p.num} at the {p.city} office; visitor badge {p.code}.",
     "where should I park when visiting the {p.city} office"),
    ("{p.person} takes coffee as a {p.coffee}, no sugar.", "how does {p.first} take coffee"),
    ("Gate code for the {p.city} warehouse is {p.code}.",
     "code to open the {p.city} warehouse gate"),
    ("Finance capped the {p.project} budget at {p.money}.",
     "how much money does {p.project} have to spend"),
    ("{p.person} is our new point of contact at {p.vendor}.",
     "who should I talk to at {p.vendor}"),
    ("Offsite flight to {p.city}: {p.airline} {p.flight}, leaving at {p.time}.",
     "which flight do I take to {p.city} for the offsite"),
    ("The {p.project} repository moved to the {p.team} group on the code server.",
     "where does the {p.project} repo live now"),
    ("{p.person}'s daughter is named {p.child}.", "what is the name of {p.first}'s daughter"),
    ("Appointment with Dr. {p.last} rescheduled to {p.weekday} {p.month} {p.day} at {p.time}.",
     "when is my appointment with Dr. {p.last}"),
    ("{p.person} left {p.vendor} and now leads sales at {p.vendor2}.",
     "where does {p.first} work these days"),
    ("The projector in room {p.room} only works with the HDMI adapter in the drawer.",
     "how to get the projector working in room {p.room}"),
    ("Tax ID for {p.vendor} is {p.acct}; it goes on every purchase order.",
     "{p.vendor} tax identification number"),
    ("Kickoff for {p.project} is on {p.weekday} {p.month} {p.day} in {p.city}.",
     "when and where is the {p.project} kickoff meeting"),
    ("{p.person} speaks fluent {p.language} and can help with clients in {p.city}.",
     "who can translate {p.language} for the {p.city} clients"),
    ("Our preferred hotel in {p.city} is the {p.hotel}, corporate rate code {p.code}.",
     "which hotel do we book in {p.city}"),
    ("{p.project} tracks errors in {p.tool}, not {p.tool2}.",
     "what error tracking tool does {p.project} use"),
    ("The {p.team} team orders {p.food} bowls from {p.restaurant} every Friday.",
     "where does the {p.team} team get lunch on Fridays"),
    ("The VPN certificate for the {p.city} office expires on {p.month} {p.day}.",
     "when does the {p.city} VPN cert run out"),
    ("{p.person} reports to {p.person2} since the reorg.", "who is {p.first}'s manager"),
    ("My locker at the {p.city} gym is {p.num}, combination {p.code}.",
     "gym locker combination in {p.city}"),
    ("The {p.month} board deck must reach {p.person} by the 25th.",
     "who gets the {p.month} board slides and when"),
    ("{p.vendor} quoted {p.money} per year for {p.service}, valid until {p.month} {p.day}.",
     "how much was the {p.vendor} quote for {p.service}"),
    ("{p.person} is on parental leave until {p.month} {p.day}; {p.person2} covers meanwhile.",
     "who is covering for {p.first} during the leave"),
    ("The {p.project} staging server is {p.host}.", "hostname of the {p.project} staging box"),
    ("{p.person} wants status updates by email every Monday, not in chat.",
     "how does {p.first} want to receive status updates"),
    ("Insurance policy number for the {p.city} office is {p.acct}.",
     "{p.city} office insurance policy number"),
    ("The {p.team} shared vault password was rotated; ask {p.person} for access.",
     "who gives access to the {p.team} vault"),
    ("{p.person} is vegetarian; book {p.restaurant} for the team dinner.",
     "dietary needs for {p.first} at dinner"),
    ("The {p.project} demo for {p.vendor} is recorded in the {p.team} drive.",
     "where is the recording of the {p.project} demo"),
)  # fmt: skip
EVERYDAY = (
    "Met {p.person} to go over the {p.project} {p.topic}; next step: {p.action}.",
    "{p.vendor} sent the {p.month} invoice for {p.service}; forwarded to finance.",
    "Call with {p.vendor} about {p.service} pricing went fine, waiting on a revised quote.",
    "{p.person} will cover the {p.team} standup on {p.weekday}.",
    "The {p.city} office printer is out of toner again.",
    "Reminder: {p.project} retro on {p.weekday}, bring the {p.topic} numbers.",
    "Decided to postpone the {p.project} offsite in {p.city} to {p.month}.",
    "{p.person} asked for the {p.team} budget spreadsheet.",
    "Booked the large meeting room for the {p.project} review on {p.weekday}.",
    "Coffee machine on the {p.ordinal} floor is fixed.",
    "Parking garage in {p.city} closes at {p.time} on weekends.",
    "{p.vendor} support ticket {p.code} closed.",
    "Lunch with {p.person} at {p.restaurant}, talked about hiring for {p.team}.",
    "Wifi in the {p.city} office was flaky during the all-hands.",
    "Approved the {p.vendor} renewal for {p.service}.",
    "The {p.project} launch checklist lives in the shared drive.",
    "{p.person}'s flight from {p.city} lands at {p.time}.",
    "Password rotation for the {p.team} vault is due next quarter.",
    "Account review with {p.vendor} moved to {p.weekday}.",
    "{p.person} joined the {p.team} team from {p.vendor}.",
    "Birthday cake for {p.person} on Friday, collect money by Thursday.",
    "Gate at the {p.city} warehouse is stuck; facilities notified.",
    "Kickoff notes for {p.project}: {p.topic}, owners and milestones agreed.",
    "Hotel options in {p.city} shortlisted for the sales trip.",
    "{p.person} is out sick today; {p.person2} takes the client call.",
    "Budget review for {p.project} pushed to {p.month}.",
    "Quote request sent to {p.vendor} for {p.service}.",
    "Staging deploy of {p.project} failed again, rollback done.",
    "{p.team} team lunch moved to {p.restaurant}.",
    "{p.person} wants to revisit the {p.topic} for {p.project} before {p.month}.",
    "Contract draft from {p.vendor} needs a second look at the {p.service} terms.",
    "Dentist reminder card came in the mail for {p.month}.",
)
NOTE = """---
id: {id}
date: {date}
source: {source}
value: {value}
space: {space}
origin: history/{compact}-1400-task.md
---
{text}
"""
SOURCES = ("user-said", "user-confirmed", "tool-output")
Note = tuple[str, str, str]  # id, space, text
SLUG = re.compile(r"[^a-z0-9]+")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def fill(fact: tuple[str, str], rng: random.Random) -> tuple[str, str]:
    pick = Pick(rng)  # one pick for both: the query asks about the note's vendor or person
    return fact[0].format(p=pick), fact[1].format(p=pick)


def corpus(total: int, facts: int, rng: random.Random) -> tuple[list[Note], list[tuple[str, str]]]:
    """`total` notes, of which `facts` planted ones; returns notes and (query, answer id)."""
    queries: dict[str, str] = {}
    planted: list[tuple[str, str]] = []
    for i in range(facts):
        for _ in range(100):  # draw until this kind of fact has a query not used yet
            note, query = fill(FACTS[i % len(FACTS)], rng)
            if query not in queries:
                break
        else:
            raise SystemExit(f"no fresh query for fact kind {i % len(FACTS)}")
        queries[query] = note
        planted.append((note, query))
    texts = [note for note, _ in planted]
    while len(texts) < total:
        if rng.random() < 0.08:  # a near miss: same kind of fact, another vendor/city/person
            note, query = fill(rng.choice(FACTS), rng)
            if query in queries:
                continue
        else:
            note = rng.choice(EVERYDAY).format(p=Pick(rng))
        texts.append(note)
    order = list(range(total))
    rng.shuffle(order)
    notes = [(f"{(k * 2654435761) % 2**32:08x}", rng.choice(SPACES), texts[k]) for k in order]
    by_text = {text: item for item, _, text in notes[::-1]}
    return notes, [(query, by_text[note]) for note, query in planted]


def write_notes(root: Path, notes: list[Note], rng: random.Random) -> dict[str, str]:
    """Archive notes in the documented format; returns id -> workspace-relative path."""
    paths: dict[str, str] = {}
    made: set[Path] = set()
    for item, space, text in notes:
        year, month, day = rng.randint(2024, 2026), rng.randint(1, 12), rng.randint(1, 28)
        date = f"{year}-{month:02d}-{day:02d}"
        slug = "-".join(SLUG.sub(" ", text.lower()).split()[:4])
        rel = f"spaces/{space}/memory/archive/{year}/{month:02d}/{date}-{slug}-{item}.md"
        folder = root / rel.rsplit("/", 1)[0]
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        source, value = rng.choice(SOURCES), round(rng.uniform(0.05, 0.39), 2)
        with open(root / rel, "w", encoding="utf-8") as handle:
            handle.write(
                NOTE.format(
                    id=item,
                    date=date,
                    source=source,
                    value=value,
                    space=space,
                    compact=date.replace("-", ""),
                    text=text,
                )
            )
        paths[item] = rel
    return paths


def topic_text(name: str, lines: list[str]) -> str:
    return f"---\ntopic: {name}\n---\n# {name.title()}\n\n" + "".join(lines)


def topic_line(rng: random.Random, i: int, text: str) -> str:
    value, source = round(rng.uniform(0.4, 0.74), 2), rng.choice(SOURCES)
    return (
        f"- 2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}: {text} ([task](history/2026-task-{i}.md))"
        f" <!-- mem:{rng.getrandbits(32):08x} v={value} src={source} -->\n"
    )


def recall(root: Path, total: int, rng: random.Random) -> None:
    notes, queries = corpus(total, 200, rng)
    write_notes(root, notes, rng)
    with MemoryIndex(root) as index:
        index.rebuild()
        found, reciprocal, misses = 0, 0.0, []
        for query, answer in queries:
            hits = [hit.id for hit in index.search(query, limit=10)]
            rank = hits.index(answer) + 1 if answer in hits else 0
            found += 0 < rank <= 5
            reciprocal += 1 / rank if rank else 0.0
            if not rank:
                misses.append(query)
            text = next(t for i, _, t in notes if i == answer)
            if answer not in {hit.id for hit in index.search(text, limit=3)}:
                raise SystemExit(f"planted note {answer} not found by its own text: {text!r}")
    n = len(queries)
    print(
        f"recall@5 {found / n:.2f}, MRR@10 {reciprocal / n:.2f} over {n} queries ({total:,} notes)"
        " — BM25 baseline for a semantic step to beat"
    )
    print("  not in the top 10, e.g.: " + "; ".join(repr(q) for q in misses[:4]))


def percentile(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100)[p - 1] if len(samples) > 1 else samples[0]


def speed(root: Path, total: int, changes: int, rng: random.Random) -> None:
    start = time.perf_counter()
    notes, planted = corpus(total, 200, rng)
    paths = write_notes(root, notes, rng)
    topics = []
    for t in range(20):
        name = f"notes-{t:02d}"
        lines = [topic_line(rng, i, rng.choice(EVERYDAY).format(p=Pick(rng))) for i in range(200)]
        topics.append((f"spaces/{SPACES[t % 4]}/memory/topics/{name}.md", name, lines))
        (root / topics[-1][0]).parent.mkdir(parents=True, exist_ok=True)
        (root / topics[-1][0]).write_text(topic_text(name, lines), encoding="utf-8")
    print(
        f"generated {total:,} archive notes + 20 topic files x 200 lines in "
        f"{time.perf_counter() - start:.1f} s ({root})"
    )

    with MemoryIndex(root) as index:
        start = time.perf_counter()
        items = index.rebuild()
        took = time.perf_counter() - start
        rate = total / took
        print(
            f"index build: {rate:,.0f} notes/s ({total:,} notes, {items:,} items with topic lines,"
            f" {took:.1f} s) (target >= 2,000/s) {verdict(rate >= 2000)}"
        )
        words = [w for text in EVERYDAY for w in re.findall(r"[a-z]+", text.lower()) if w != "p"]
        mixed = [
            " ".join(
                rng.choice(words + list(POOLS[rng.choice(("vendor", "city", "first"))]))
                for _ in range(rng.randint(2, 7))
            )
            for _ in range(300)
        ]
        queries = [q for q, _ in planted] + mixed
        for label, spaces in (("all spaces", None), ("2 spaces", SPACES[:2])):
            times, found = [], 0
            for k, query in enumerate(queries):
                t0 = time.perf_counter()
                hits = index.search(query, spaces=spaces, limit=5)
                times.append((time.perf_counter() - t0) * 1000)
                found += k < len(planted) and planted[k][1] in {hit.id for hit in hits}
            p95 = percentile(times, 95)
            print(
                f"recall latency, {label} ({len(queries)} queries, {total:,} notes): p50 "
                f"{statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms"
                f" — recall p95 {p95:.1f} ms (target <= 20 ms) {verdict(p95 <= 20)}"
            )
            if spaces is None:
                print(f"  (recall@5 at this size: {found / len(planted):.2f} over {len(planted)})")

        archive_ms, topic_ms = [], []
        ids = list(paths)
        for i in range(changes):
            rel = paths[ids[i * len(ids) // changes]]
            text = (root / rel).read_text(encoding="utf-8")
            (root / rel).write_text(text.rstrip("\n") + f" Revision marker zq{i}x.\n", "utf-8")
            t0 = time.perf_counter()
            index.update([rel])
            archive_ms.append((time.perf_counter() - t0) * 1000)
            rel, name, lines = topics[i % len(topics)]
            lines[i % 200] = topic_line(rng, i, f"Edited line about topic marker zt{i}x.")
            (root / rel).write_text(topic_text(name, lines), encoding="utf-8")
            t0 = time.perf_counter()
            index.update([rel])
            topic_ms.append((time.perf_counter() - t0) * 1000)
            for marker in (f"zq{i}x", f"zt{i}x"):
                if len(index.search(marker)) != 1:
                    raise SystemExit(f"edit {marker} not found after update()")
        worst = max(archive_ms + topic_ms)
        print(
            f"incremental reindex ({changes} changes each): archive note median "
            f"{statistics.median(archive_ms):.1f} ms, topic file (200 lines) median "
            f"{statistics.median(topic_ms):.1f} ms, max {worst:.1f} ms (target <= 20 ms) "
            f"{verdict(worst <= 20)}"
        )
    with MemoryIndex(root) as index:  # start-up: the first repair also re-hashes files
        for run in ("first", "second"):  # indexed within 2 s of being written (see _stamp)
            start = time.perf_counter()
            repaired = index.repair()
            took = time.perf_counter() - start
            print(
                f"start-up repair, unchanged workspace ({run}): {took:.2f} s, "
                f"{len(repaired)} paths repaired (for information)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=100_000, help="speed corpus (100,000)")
    parser.add_argument("--recall-notes", type=int, default=10_000, help="quality corpus")
    parser.add_argument("--changes", type=int, default=50, help="incremental edits (50)")
    parser.add_argument("--dir", type=Path, help="generate here (a new or empty folder)")
    args = parser.parse_args()
    if min(args.notes, args.recall_notes) < 1000:
        parser.error("--notes and --recall-notes must be at least 1,000")
    with tempfile.TemporaryDirectory(prefix="cairn-memory-") as temp:
        root = (args.dir or Path(temp)).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            parser.error(f"{root} is not empty")
        recall(root / "recall", args.recall_notes, random.Random(11))
        speed(root / "speed", args.notes, args.changes, random.Random(12))
    return 0


if __name__ == "__main__":
    sys.exit(main())
