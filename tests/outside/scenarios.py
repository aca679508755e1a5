#!/usr/bin/env python3
"""Outside clinical scenarios for clozrems, run over HTTP against a live server.

Each scenario builds one or more messy patient histories through the public API (past dates,
relative to the server's "today" in the clinic's time zone) and checks the answers against the
rule book (docs/rules.md, the same section numbers as the normative rules). Its docstring says
the expected answer and the rule it follows; each check names the kind of wrong answer a failure
would be (unsafe_allow, wrong_block, wrong_field).

    .venv/bin/python outside/scenarios.py            # run all, print failures with HTTP traces
    .venv/bin/python outside/scenarios.py -k I08 N12 # only some
    .venv/bin/python outside/scenarios.py --json out.json

Scenarios marked `pending` cover findings being fixed on other branches; their state is shown
but they are not counted as new findings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from tests.outside.harness import (
    BLOCK,
    FIELD,
    UNSAFE,
    Ctx,
    Failure,
    Outcome,
    Trace,
    World,
    codes,
    summary,
    warning_codes,
    withheld,
)


@dataclass
class Scenario:
    sid: str
    title: str
    rule: str
    fn: Callable[[Ctx], None]
    pending: str = ""  # issue-14 item being fixed on another branch


SCENARIOS: list[Scenario] = []


def scenario(sid: str, title: str, rule: str, pending: str = "") -> Callable:
    def deco(fn: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
        SCENARIOS.append(Scenario(sid, title, rule, fn, pending))
        return fn

    return deco


def allowed(c: Ctx, d: dict, days: int | None, what: str) -> bool:
    ok = d["decision"] == "allowed" and (days is None or d["max_days_supply"] == days)
    return c.check(
        f"{what}: allowed" + (f" up to {days} days" if days is not None else ""),
        ok,
        summary(d),
        BLOCK,
    )


def blocked(c: Ctx, d: dict, must: set[str], what: str) -> bool:
    ok = d["decision"] == "blocked" and must <= codes(d)
    return c.check(f"{what}: blocked with {sorted(must)}", ok, summary(d), UNSAFE)


# =============================================================================================
# I: the unsafe answers an outside tester found on realistic histories, as found
# =============================================================================================


@scenario(
    "I01",
    "late normal ANC of the start day must not erase start and interrupt",
    "§9.1: a late result never drops a recorded start/interrupt",
)
def i01(c: Ctx) -> None:
    """ANC 2000 (d-40), enroll d-40, start d-38, prescriber interrupt d-20 (suspected
    myocarditis); then an ANC 1700 drawn d-38 07:00 is filed. Expected: treatment interrupted,
    every decision after d-20 blocked (treatment_interrupted), the clock started d-38."""
    p = c.patient()
    c.anc(p, c.at(-40, "08:00"), 2000)
    c.enroll(p, c.day(-40))
    c.event(p, "start", c.day(-38))
    c.event(p, "interrupt", c.day(-20), reason="suspected myocarditis")
    c.anc(p, c.at(-38, "07:00"), 1700)
    d = c.elig(p)
    blocked(c, d, {"treatment_interrupted"}, "now")
    c.check(
        "clock started on the recorded start",
        d.get("clock_started_on") == c.day(-38),
        d.get("clock_started_on"),
    )
    s, r = c.dispense_now(p, 7)
    c.check(
        "a 7-day dispense now is refused (422)",
        s == 422,
        (s, r.get("reasons") if isinstance(r, dict) else r),
        UNSAFE,
    )


@scenario(
    "I02",
    "late ANC of the start day must not make a moderate episode resume-free",
    "§9.1, §5: only a resume lifts a neutropenia interruption",
)
def i02(c: Ctx) -> None:
    """ANC 2000 d-40, enroll, start d-38; ANC 800 d-30 08:00, 850 d-29 07:00 (confirms), 1700 d-25;
    then ANC 1800 drawn on the start day (d-38 07:00) filed late. No resume recorded. Expected:
    blocked (treatment_interrupted) on d-24 and now."""
    p = c.patient()
    c.anc(p, c.at(-40, "08:00"), 2000)
    c.enroll(p, c.day(-40))
    c.event(p, "start", c.day(-38))
    c.anc(p, c.at(-30, "08:00"), 800)
    c.anc(p, c.at(-29, "07:00"), 850)
    c.anc(p, c.at(-25, "09:00"), 1700)
    c.anc(p, c.at(-38, "07:00"), 1800)
    blocked(c, c.elig(p, c.at(-24, "12:00")), {"treatment_interrupted"}, "d-24")
    blocked(c, c.elig(p), {"treatment_interrupted"}, "now")


@scenario(
    "I03",
    "mild ANC of the start day filed after the start means continue",
    "§9.2: a mild result on or after the start day is 'continue'",
)
def i03(c: Ctx) -> None:
    """ANC 2000 d-40, enroll, start d-38; ANC 1200 drawn d-38 08:00 filed late. Expected on
    d-37 12:00: active, band mild, three_times_weekly, allowed 7 days."""
    p = c.patient()
    c.anc(p, c.at(-40, "08:00"), 2000)
    c.enroll(p, c.day(-40))
    c.event(p, "start", c.day(-38))
    c.anc(p, c.at(-38, "08:00"), 1200)
    d = c.elig(p, c.at(-37, "12:00"))
    allowed(c, d, 7, "d-37")
    c.check(
        "band mild, three times weekly, active",
        (d["band"], d["monitoring_frequency"], d["treatment_status"])
        == ("mild", "three_times_weekly", "active"),
        summary(d),
    )


def _same_draw(c: Ctx, low: int, first_low: bool, accessions: bool) -> dict:
    p = c.established(60)
    when = c.at(-3, "09:00")
    values = [low, 2500] if first_low else [2500, low]
    for v in values:
        c.anc(p, when, v, accession=c.acc() if accessions else None)
    return c.elig(p, c.at(-3, "12:00"))


@scenario(
    "I04",
    "two results of one draw (severe 300 and normal 2500, same drawn_at), both orders",
    "§9.3: one draw, one verdict; the worse value counts; order never matters",
)
def i04(c: Ctx) -> None:
    """Weekly patient; ANC 300 and ANC 2500 with the same drawn_at (different accessions),
    typed in either order. Expected in both: band severe, interrupted, blocked, identical."""
    a = _same_draw(c, 300, True, True)
    b = _same_draw(c, 300, False, True)
    for name, d in (("severe typed first", a), ("normal typed first", b)):
        blocked(c, d, {"treatment_interrupted"}, name)
        c.check(f"{name}: band severe", d["band"] == "severe", summary(d), UNSAFE)
    c.check(
        "both orders give the same decision", summary(a) == summary(b), [summary(a), summary(b)]
    )


@scenario(
    "I05", "two results of one draw (moderate 700 and 2200, no accession), both orders", "§9.3"
)
def i05(c: Ctx) -> None:
    """As I04 with 700/2200 and no accession. Expected: moderate, interrupted, blocked, same."""
    a = _same_draw(c, 700, True, False)
    b = _same_draw(c, 700, False, False)
    for name, d in (("moderate typed first", a), ("normal typed first", b)):
        blocked(c, d, {"treatment_interrupted"}, name)
        c.check(f"{name}: band moderate", d["band"] == "moderate", summary(d), UNSAFE)
    c.check(
        "both orders give the same decision", summary(a) == summary(b), [summary(a), summary(b)]
    )


@scenario(
    "I06",
    "continuation written at ANC 800 must not cover a new severe episode",
    "§9.5: a continuation covers the episode open on its start, no worse band",
)
def i06(c: Ctx) -> None:
    """Monthly patient; 800 d-30, 850 d-29 (moderate confirmed); continuation d-29..d-1 (allowed
    7 on d-28); 1600 d-22 (episode closes); 250 d-16, 240 d-15 (new severe episode). Expected on
    d-15 12:00: blocked (treatment_interrupted, rechallenge_not_authorized)."""
    p = c.established()
    c.anc(p, c.at(-30, "08:00"), 800)
    c.anc(p, c.at(-29, "07:00"), 850)
    c.auth(p, "continuation", c.day(-29), c.day(-1))
    allowed(c, c.elig(p, c.at(-28, "12:00")), 7, "d-28 under the continuation")
    c.anc(p, c.at(-22, "09:00"), 1600)
    c.anc(p, c.at(-16, "08:00"), 250)
    c.anc(p, c.at(-15, "07:00"), 240)
    blocked(
        c,
        c.elig(p, c.at(-15, "12:00")),
        {"treatment_interrupted", "rechallenge_not_authorized"},
        "d-15",
    )


@scenario(
    "I07",
    "continuation at 800 must not cover the same episode turning severe",
    "§9.5: no band worse than the episode's worst when it was recorded",
)
def i07(c: Ctx) -> None:
    """800 d-10, 850 d-9, continuation d-9..d+10, then 250 d-8 filed after. Expected d-8 12:00:
    blocked (treatment_interrupted, rechallenge_not_authorized)."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 800)
    c.anc(p, c.at(-9, "07:00"), 850)
    c.auth(p, "continuation", c.day(-9), c.day(10))
    c.anc(p, c.at(-8, "08:00"), 250)
    blocked(
        c,
        c.elig(p, c.at(-8, "12:00")),
        {"treatment_interrupted", "rechallenge_not_authorized"},
        "d-8",
    )


@scenario(
    "I08",
    "a rechallenge authorization must not be reused for a second severe episode",
    "§9.5: a rechallenge is used by the first resume after it",
)
def i08(c: Ctx) -> None:
    """Severe 300 d-40/350 d-39, 1600 d-32, 1700 d-31, rechallenge d-31..d-2, resume d-31
    (allowed, weekly, clock restarts d-31). Severe again 300 d-20/280 d-19, 1800 d-12, 1900 d-11;
    resume d-11 must be refused (422 rechallenge_not_authorized); d-10 blocked."""
    p = c.established()
    c.anc(p, c.at(-40, "08:00"), 300)
    c.anc(p, c.at(-39, "07:00"), 350)
    c.anc(p, c.at(-32, "09:00"), 1600)
    c.anc(p, c.at(-31, "09:00"), 1700)
    c.auth(p, "rechallenge", c.day(-31), c.day(-2))
    c.event(p, "resume", c.day(-31))
    d = c.elig(p, c.at(-30, "12:00"))
    allowed(c, d, 7, "d-30 after the rechallenge")
    c.check(
        "rechallenge restarts the clock (weekly, clock d-31)",
        d["monitoring_frequency"] == "weekly" and d.get("clock_started_on") == c.day(-31),
        summary(d),
    )
    c.anc(p, c.at(-20, "08:00"), 300)
    c.anc(p, c.at(-19, "07:00"), 280)
    c.anc(p, c.at(-12, "09:00"), 1800)
    c.anc(p, c.at(-11, "09:00"), 1900)
    s, r = c.event(p, "resume", c.day(-11), expect=None)
    c.check(
        "second resume refused (422 rechallenge_not_authorized)",
        s == 422 and "rechallenge_not_authorized" in codes(r),
        (s, r),
        UNSAFE,
    )
    blocked(c, c.elig(p, c.at(-10, "12:00")), {"rechallenge_not_authorized"}, "d-10")


@scenario(
    "I09",
    "uk-cpms: one neutrophil count alone (amber) must not make the patient current",
    "§9.9: an incomplete set never makes a result current",
)
def i09(c: Ctx) -> None:
    """uk-cpms weekly patient: full blood counts d-60 (enroll, start) and d-9; neutrophils 1.7
    alone d-2. Expected now: blocked anc_not_current (last complete set 9 days old)."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-60), "6.0", "3.0")
    c.enroll(p, c.day(-60))
    c.event(p, "start", c.day(-60))
    c.fbc(p, c.at(-9), "6.0", "3.0")
    c.result(p, c.at(-2), "1.7", unit="10*9/L", accession=c.acc())
    blocked(c, c.elig(p), {"anc_not_current"}, "now (amber neutrophils alone)")
    q = c.patient(protocol="uk-cpms")
    c.fbc(q, c.at(-60), "6.0", "3.0")
    c.enroll(q, c.day(-60))
    c.event(q, "start", c.day(-60))
    c.fbc(q, c.at(-9), "6.0", "3.0")
    c.result(q, c.at(-2), "6.5", unit="10*9/L", accession=c.acc(), analyte="wbc")
    d = c.elig(q)
    blocked(c, d, {"anc_not_current"}, "now (green-looking WBC alone)")
    c.check(
        "an incomplete set is flagged (warning incomplete_result)",
        "incomplete_result" in warning_codes(d),
        summary(d),
    )


@scenario(
    "I10",
    "continuation must not pause the lapse while the prescriber's interruption stands",
    "§9.5, §4: 30 days interrupted = re-enrollment",
)
def i10(c: Ctx) -> None:
    """Monthly patient: 800 d-50, 850 d-49 (interrupted by neutropenia d-50); continuation
    d-49..d-20; prescriber interrupt d-49; 1800 d-45. Expected: re-enrollment required from d-20;
    resume d-5 refused (409); decision d-5 blocked patient_not_enrolled."""
    p = c.established()
    c.anc(p, c.at(-50, "08:00"), 800)
    c.anc(p, c.at(-49, "07:00"), 850)
    c.auth(p, "continuation", c.day(-49), c.day(-20))
    c.event(p, "interrupt", c.day(-49), reason="admitted, clozapine stopped")
    c.anc(p, c.at(-45, "09:00"), 1800)
    d = c.elig(p, c.at(-18, "12:00"))
    c.check(
        "d-18: re-enrollment required",
        d["enrollment_status"] == "reenrollment_required",
        summary(d),
        UNSAFE,
    )
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check("resume d-5 refused", s in (409, 422), (s, r), UNSAFE)
    blocked(c, c.elig(p, c.at(-5, "12:00")), {"patient_not_enrolled"}, "d-5")


@scenario("I11", "uk-cpms per-patient limits must have floors (0 refused)", "§9.10")
def i11(c: Ctx) -> None:
    """uk-cpms BEN patient: a limit agreement with neutrophils_red_per_ul 0 must be refused (400);
    one back-dated before enrollment too."""
    p = c.patient(population="ben", protocol="uk-cpms")
    c.fbc(p, c.at(-20), "6.0", "3.0")
    c.enroll(p, c.day(-20))
    s, r = c.pres.call(
        "POST",
        f"/api/v1/patients/{p}/limit-agreements/",
        {
            "limits": {"neutrophils_red_per_ul": 0, "neutrophils_green_per_ul": 0},
            "haematologist": "Dr H",
        },
    )
    c.check("limits of 0 refused (400 or 422)", s in (400, 422), (s, r), UNSAFE)
    s, r = c.pres.call(
        "POST",
        f"/api/v1/patients/{p}/limit-agreements/",
        {
            "limits": {"neutrophils_green_per_ul": 1800},
            "haematologist": "Dr H",
            "agreed_on": c.day(-400),
        },
    )
    c.check(
        "agreement back-dated before enrollment refused (400 or 422)",
        s in (400, 422),
        (s, r),
        FIELD,
    )


@scenario(
    "I12",
    "emergency supply must not be offered with an ANC 75 days old",
    "§10: latest ANC no older than its window + 7 days",
)
def i12(c: Ctx) -> None:
    """Monthly patient, latest ANC d-75, no supply recorded. Expected: blocked anc_not_current,
    emergency_supply null, withheld names the ANC age; an emergency POST is refused."""
    p = c.established()
    c.anc(p, c.at(-75), 2500)
    d = c.elig(p)
    c.check("emergency not offered", d.get("emergency_supply") is None, summary(d), UNSAFE)
    c.check(
        "withheld names the ANC's age", "emergency_supply_anc_too_old" in withheld(d), summary(d)
    )
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay", "remark": "", "last_dose_confirmed": True})
    c.check(
        "emergency POST refused (422)",
        s == 422,
        (s, r.get("reasons") if isinstance(r, dict) else r),
        UNSAFE,
    )


@scenario(
    "I13",
    "emergency supply must not be offered 8 days after a moderate episode",
    "§10: not in the post-episode 'weekly for 4 weeks' step",
)
def i13(c: Ctx) -> None:
    """Monthly patient: 800 d-12, 850 d-11, 1600 d-8 (closes), resume d-8. Now the ANC (8 days,
    weekly window) is not current. Expected: emergency withheld (after episode); POST refused."""
    p = c.established()
    c.anc(p, c.at(-12, "08:00"), 800)
    c.anc(p, c.at(-11, "07:00"), 850)
    c.anc(p, c.at(-8, "09:00"), 1600)
    c.event(p, "resume", c.day(-8))
    d = c.elig(p)
    blocked(c, d, {"anc_not_current"}, "now")
    c.check("emergency not offered", d.get("emergency_supply") is None, summary(d), UNSAFE)
    c.check(
        "withheld names the post-episode step",
        "emergency_supply_after_episode" in withheld(d),
        summary(d),
    )
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay", "last_dose_confirmed": True})
    c.check("emergency POST refused (422)", s == 422, (s, r), UNSAFE)


@scenario(
    "I14",
    "emergency supply must not be offered 16 days without clozapine",
    "§10: recorded supply ran out no more than 48 hours ago",
)
def i14(c: Ctx) -> None:
    """Monthly patient: ANC d-45, dispense 28 d-44 (runs out d-16), ANC d-35. Now: ANC 35 days
    (within 31+7) but 16 days without supply. Expected: withheld off_clozapine; POST refused."""
    p = c.established()
    c.anc(p, c.at(-45), 2500)
    c.dispense_import(p, c.at(-44, "10:00"), 28)
    c.anc(p, c.at(-35), 2500)
    d = c.elig(p)
    c.check("emergency not offered", d.get("emergency_supply") is None, summary(d), UNSAFE)
    c.check(
        "withheld names the days off clozapine",
        "emergency_supply_off_clozapine" in withheld(d),
        summary(d),
    )
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay"})
    c.check("emergency POST refused (422)", s == 422, (s, r), UNSAFE)


@scenario("I15", "emergency supply when only the lab is late: offered once, 4 days at most", "§10")
def i15(c: Ctx) -> None:
    """Monthly patient: ANC d-33, dispense 28 d-29 (ran out at the start of d-1, < 48 h ago).
    Expected now: blocked by anc_not_current alone, emergency offered (4 days); 5 days refused;
    4 days recorded (201); a second emergency refused (already used since that ANC)."""
    p = c.established()
    c.anc(p, c.at(-33), 2500)
    c.dispense_import(p, c.at(-29, "10:00"), 28)
    d = c.elig(p)
    c.check(
        "blocked by anc_not_current alone",
        d["decision"] == "blocked" and codes(d) == {"anc_not_current"},
        summary(d),
    )
    em = d.get("emergency_supply") or {}
    c.check(
        "emergency offered, 4 days",
        bool(em.get("available")) and em.get("max_days_supply") == 4,
        summary(d),
        BLOCK,
    )
    s, r = c.dispense_now(p, 5, {"reason": "lab_delay"})
    c.check("5 emergency days refused", s == 422, (s, r), UNSAFE)
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay", "remark": "lab closed"})
    c.check("4 emergency days recorded", s == 201, (s, r), BLOCK)
    s, notes = c.pres.call("GET", "/api/v1/notifications/", params={"kind": "emergency_supply"})
    mine = [
        n
        for n in (notes.get("results", []) if isinstance(notes, dict) else [])
        if str(n.get("patient")) == str(p)
    ]
    c.check("the prescriber is told at once", len(mine) >= 1, mine)
    d = c.elig(p)
    c.check(
        "second emergency withheld (already used)",
        d.get("emergency_supply") is None and "emergency_supply_already_used" in withheld(d),
        summary(d),
        UNSAFE,
    )
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay"})
    c.check("second emergency POST refused", s == 422, (s, r), UNSAFE)


@scenario(
    "I16",
    "a severe ANC drawn 4 minutes 'in the future' counts at once",
    "§9.6: a result counts from when the system holds it",
)
def i16(c: Ctx) -> None:
    """Weekly patient with ANC 2500 d-2; ANC 300 drawn now+4 min. Expected: the recording answer
    says severe; eligibility now blocked; a dispense now refused."""
    p = c.established(60)
    c.anc(p, c.at(-2), 2500)
    r = c.anc(p, c.in_minutes(4), 300)
    m = r.get("monitoring", {})
    c.check("recording answer shows severe", m.get("band") == "severe", m.get("band"), UNSAFE)
    blocked(c, c.elig(p), {"treatment_interrupted"}, "now")
    s, r = c.dispense_now(p, 7)
    c.check(
        "dispense now refused",
        s == 422,
        (s, r.get("reasons") if isinstance(r, dict) else r),
        UNSAFE,
    )


@scenario("I17", "a normal ANC drawn 4 minutes ahead makes a stale patient current at once", "§9.6")
def i17(c: Ctx) -> None:
    """Weekly patient whose only ANC is from the start (d-60): ANC 2500 drawn now+4 min.
    Expected: allowed 7 now. A draw 15 minutes ahead is refused (400)."""
    p = c.established(60)
    blocked(c, c.elig(p), {"anc_not_current"}, "before")
    c.anc(p, c.in_minutes(4), 2500)
    allowed(c, c.elig(p), 7, "now")
    s, r = c.result(p, c.in_minutes(15), 2500, expect=None)
    c.check(
        "a draw 15 minutes ahead refused (400 drawn_at)",
        s == 400 and "drawn_at" in r,
        (s, r),
        FIELD,
    )


@scenario("I18", "a designee may not void a result it did not enter", "§8 (who may void what)")
def i18(c: Ctx) -> None:
    """Prescriber enters a severe ANC; the designee tries to void it. Expected: refused (403),
    the patient stays interrupted."""
    p = c.established(60)
    r = c.anc(p, c.at(-1), 300)
    s, v = c.w.designee.call(
        "POST", f"/api/v1/patients/{p}/anc-results/{r['id']}/void/", {"reason": "typo"}
    )
    c.check("designee void refused (403)", s == 403, (s, v), UNSAFE)
    blocked(c, c.elig(p), {"treatment_interrupted"}, "now")


@scenario(
    "I19", "BEN baseline: last two pre-dose ANCs only; 930 never ends BEN neutropenia", "§9.8"
)
def i19(c: Ctx) -> None:
    """BEN: pre-dose 600 (d-540), 1100 (d-20), 1300 (d-10); enroll d-10, start d-9. Expected
    baseline 1200. Then 700 d-5, 750 d-4 (confirmed), 930 d-2: band ben_neutropenia,
    three_times_weekly, consult flagged, allowed 7 (BEN neutropenia continues)."""
    p = c.patient("ben")
    c.anc(p, c.at(-540), 600)
    c.anc(p, c.at(-20), 1100)
    c.anc(p, c.at(-10), 1300)
    c.enroll(p, c.day(-10))
    c.event(p, "start", c.day(-9))
    m = c.picture(p)["monitoring"]
    c.check(
        "baseline 1200 (mean of the last two)",
        m.get("ben_baseline_per_ul") == 1200,
        m.get("ben_baseline_per_ul"),
    )
    c.anc(p, c.at(-5, "08:00"), 700)
    c.anc(p, c.at(-4, "07:00"), 750)
    c.anc(p, c.at(-2), 930)
    d = c.elig(p, c.at(-2, "12:00"))
    allowed(c, d, 7, "d-2")
    c.check(
        "band ben_neutropenia, three times weekly, consult",
        (d["band"], d["monitoring_frequency"], d["hematology_consult"])
        == ("ben_neutropenia", "three_times_weekly", True),
        summary(d),
        UNSAFE,
    )


@scenario(
    "I20",
    "a severe ANC from before any clozapine needs no rechallenge",
    "§9.7: exposure comes first",
)
def i20(c: Ctx) -> None:
    """ANC 300 d-40 (never dosed), 1800 d-20, enroll d-20, start d-19. Expected: start accepted
    (201); d-18 allowed 7; rechallenge_required false."""
    p = c.patient()
    c.anc(p, c.at(-40), 300)
    c.anc(p, c.at(-20), 1800)
    c.enroll(p, c.day(-20))
    s, r = c.event(p, "start", c.day(-19), expect=None)
    c.check("start accepted", s == 201, (s, r), BLOCK)
    d = c.elig(p, c.at(-18, "12:00"))
    allowed(c, d, 7, "d-18")
    c.check("no rechallenge required", d.get("rechallenge_required") is False, summary(d), BLOCK)


@scenario(
    "I21",
    "protocol switch us-label -> uk-cpms with a green full blood count",
    "§9.11: enrollment under the new protocol needs its own complete normal result",
)
def i21(c: Ctx) -> None:
    """us-label patient (ANC-only history), discontinued d-30; full blood count green d-5;
    re-enroll d-5 under uk-cpms (200); start d-5; d-4 allowed 7, band green."""
    p = c.patient()
    c.anc(p, c.at(-100), 2500)
    c.enroll(p, c.day(-100))
    c.event(p, "start", c.day(-100))
    c.anc(p, c.at(-60), 2400)
    c.event(p, "discontinue", c.day(-30))
    c.fbc(p, c.at(-5), "6.0", "3.0")
    s, r = c.enroll(p, c.day(-5), protocol="uk-cpms", expect=None)
    c.check("re-enrollment under uk-cpms accepted", s == 200, (s, r), BLOCK)
    if s == 200:
        c.event(p, "start", c.day(-5))
        d = c.elig(p, c.at(-4, "12:00"))
        allowed(c, d, 7, "d-4")
        c.check(
            "protocol uk-cpms, band green",
            (d["protocol"], d["band"]) == ("uk-cpms", "green"),
            summary(d),
        )


@scenario(
    "I22",
    "protocol switch uk-cpms -> us-label keeps the non-rechallengeable flag",
    "§9.11: a confirmed red episode belongs to the patient",
)
def i22(c: Ctx) -> None:
    """uk-cpms: green d-100 (enroll, start), red d-60 (WBC 2.5, neutrophils 1.0), greens d-58,
    d-57, discontinue d-40; ANC 2500 d-5; re-enroll d-5 under us-label-2015. Expected: a start
    d-5 is refused (422 rechallenge_not_authorized)."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-100), "6.0", "3.0")
    c.enroll(p, c.day(-100))
    c.event(p, "start", c.day(-100))
    c.fbc(p, c.at(-60), "2.5", "1.0")
    c.fbc(p, c.at(-58), "6.0", "3.0")
    c.fbc(p, c.at(-57), "6.0", "3.0")
    c.event(p, "discontinue", c.day(-40))
    c.anc(p, c.at(-5), 2500)
    s, r = c.enroll(p, c.day(-5), protocol="us-label-2015", expect=None)
    c.check("re-enrollment under us-label accepted", s == 200, (s, r), BLOCK)
    s, r = c.event(p, "start", c.day(-5), expect=None)
    c.check(
        "start refused: rechallenge needed",
        s == 422 and "rechallenge_not_authorized" in codes(r),
        (s, r),
        UNSAFE,
    )
    if s == 201:
        blocked(c, c.elig(p, c.at(-4, "12:00")), {"rechallenge_not_authorized"}, "d-4")


@scenario("I23", "a prescriber certified from a future date is not certified today", "§9.12")
def i23(c: Ctx) -> None:
    """A prescriber certified_on today+10: enrolling a patient today is refused (422
    prescriber_not_certified). A pharmacy certified_on today+10: decisions there blocked."""
    pid, _ = c.w.new_prescriber("Dr Future", certified_on=c.day(10))
    p = c.patient(prescriber=c.admin, prescriber_id=pid)
    c.anc(p, c.at(-1), 2500, who=c.admin)
    s, r = c.admin.call("POST", f"/api/v1/patients/{p}/enroll/", {"reason": "x"})
    c.check("enrollment refused (prescriber not yet certified)", s == 422, (s, r), UNSAFE)
    hid, pharmacist = c.w.new_pharmacy("Future Pharmacy", certified_on=c.day(10))
    q = c.established(60)
    c.anc(q, c.at(-1), 2500)
    d = c.elig(q, who=pharmacist)
    blocked(c, d, {"pharmacy_not_certified"}, "decision at the not-yet-certified pharmacy")


@scenario(
    "I24",
    "uk-cpms counts of one accession stamped a minute apart are one set",
    "§9.3: same accession = one draw",
)
def i24(c: Ctx) -> None:
    """uk-cpms: neutrophils 3.0 at d-20 09:00 and WBC 6.0 at d-20 09:01, same accession.
    Expected: enrollment d-20 accepted (a complete green set)."""
    p = c.patient(protocol="uk-cpms")
    a = c.acc()
    c.result(p, c.at(-20, "09:00"), "3.0", unit="10*9/L", accession=a)
    c.result(p, c.at(-20, "09:01"), "6.0", unit="10*9/L", accession=a, analyte="wbc")
    s, r = c.enroll(p, c.day(-20), expect=None)
    c.check("enrollment accepted", s == 200, (s, r), BLOCK)


@scenario(
    "I25", "a 7-day supply dispensed today leaves nothing more today, 1 day tomorrow", "§9.13"
)
def i25(c: Ctx) -> None:
    """Weekly patient, ANC d-3 08:00, 7 days dispensed d-3 10:00. Expected: d-3 15:00 max 0
    (1 day refused); d-2 10:00 max 1."""
    p = c.established(60)
    c.anc(p, c.at(-3, "08:00"), 2500)
    c.dispense_import(p, c.at(-3, "10:00"), 7)
    d = c.elig(p, c.at(-3, "15:00"), days=1)
    c.check(
        "same day: 1 more day refused, max 0",
        d["decision"] == "blocked" and d["max_days_supply"] == 0,
        summary(d),
        UNSAFE,
    )
    d = c.elig(p, c.at(-2, "10:00"))
    c.check("next day: max 1", d["max_days_supply"] == 1, summary(d), UNSAFE)


@scenario("I26", "a feed retransmission without accession is stored once", "§8")
def i26(c: Ctx) -> None:
    """The same CSV row (LOINC 751-8, no accession) posted twice, naming the patient by the lab's
    MRN (a name and birth date alone are held for review). Expected: one stored result."""
    p = c.established(60)
    mrn = f"MRN{c.acc()}"
    s, r = c.pres.call(
        "POST", f"/api/v1/patients/{p}/identifiers/", {"issuer": "LAB1", "value": mrn}
    )
    c.check("identifier recorded", s == 201, (s, r), FIELD)
    body = (
        "code,value,unit,drawn_at,mrn,mrn_issuer,lab\n"
        f"751-8,2.5,10*3/uL,{c.at(-1)},{mrn},LAB1,LAB1\n"
    )
    for _ in range(2):
        r = c.admin.s.post(
            c_url("/api/v1/feeds/csv/"), data=body, headers={"Content-Type": "text/csv"}
        )
        c.w.current.add(
            "admin",
            "POST",
            "/api/v1/feeds/csv/",
            body.strip().splitlines()[-1],
            r.status_code,
            None,
        )
    s, lst = c.pres.call("GET", f"/api/v1/patients/{p}/anc-results/")
    n = sum(1 for x in lst["results"] if x["drawn_at"].startswith(c.day(-1)))
    c.check("stored once", n == 1, n, FIELD)


@scenario("I27", "LOINC 26508-2 (band neutrophils %) never derives an ANC", "§8")
def i27(c: Ctx) -> None:
    """CSV rows of one accession: WBC 6690-2 = 5.0 10*3/uL and 26508-2 = 10 %. Expected: no ANC
    derived (a band count is never the neutrophil count)."""
    p = c.established(60)
    pat = c.picture(p)
    a = c.acc()
    rows = "".join(
        f"{code},{v},{u},{c.at(-1)},{pat['last_name']},{pat['date_of_birth']},{a}\n"
        for code, v, u in (("6690-2", "5.0", "10*3/uL"), ("26508-2", "10", "%"))
    )
    body = "code,value,unit,drawn_at,last_name,date_of_birth,accession\n" + rows
    r = c.admin.s.post(c_url("/api/v1/feeds/csv/"), data=body, headers={"Content-Type": "text/csv"})
    c.w.current.add(
        "admin", "POST", "/api/v1/feeds/csv/", "WBC 5.0 + 26508-2 10%", r.status_code, None
    )
    s, lst = c.pres.call("GET", f"/api/v1/patients/{p}/anc-results/")
    derived = [x for x in lst["results"] if x["drawn_at"].startswith(c.day(-1))]
    c.check("no ANC derived from a band percent", not derived, derived, UNSAFE)


@scenario("I28", "manual entry 2.1 in /uL is refused, naming the likely unit", "§8")
def i28(c: Ctx) -> None:
    """ANC 2.1 with unit /uL. Expected: 400 on value (likely 10*3/uL); nothing stored."""
    p = c.established(60)
    s, r = c.result(p, c.at(-1), "2.1", expect=None)
    c.check("2.1 /uL refused (400)", s == 400, (s, r), UNSAFE)


def c_url(path: str) -> str:
    from tests.outside.harness import BASE

    return BASE + path


# =============================================================================================
# N: new messy histories
# =============================================================================================


@scenario(
    "N01",
    "severe first result, normal repeat within 24 h: interruption stands until resume",
    "§9.4: after a severe first result the interruption stands; no rechallenge needed",
)
def n01(c: Ctx) -> None:
    """Monthly patient: 400 d-6 08:00, 2200 d-5 06:00 (22 h). Expected d-5 12:00: blocked
    (treatment_interrupted), rechallenge_required false, consult flagged. Resume d-5 accepted
    without rechallenge; d-4 allowed 28 (routine monthly), consult still flagged."""
    p = c.established()
    c.anc(p, c.at(-6, "08:00"), 400)
    c.anc(p, c.at(-5, "06:00"), 2200)
    d = c.elig(p, c.at(-5, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-5 before resume")
    c.check(
        "no rechallenge for an unconfirmed episode",
        d.get("rechallenge_required") is False,
        summary(d),
        BLOCK,
    )
    c.check("consult flagged", d["hematology_consult"] is True, summary(d))
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check("resume accepted without rechallenge", s == 201, (s, r), BLOCK)
    d = c.elig(p, c.at(-4, "12:00"))
    allowed(c, d, 28, "d-4 after resume")
    c.check("consult stays flagged until acknowledged", d["hematology_consult"] is True, summary(d))


@scenario(
    "N02",
    "moderate first result, normal repeat within 24 h: unconfirmed, no resume needed",
    "§1 confirmation; §9.4",
)
def n02(c: Ctx) -> None:
    """Monthly patient: 800 d-6 08:00, 2000 d-5 07:00. Expected d-5 12:00: active, allowed 28,
    monthly (no weekly step)."""
    p = c.established()
    c.anc(p, c.at(-6, "08:00"), 800)
    c.anc(p, c.at(-5, "07:00"), 2000)
    d = c.elig(p, c.at(-5, "12:00"))
    allowed(c, d, 28, "d-5")
    c.check(
        "monthly, active",
        (d["monitoring_frequency"], d["treatment_status"]) == ("monthly", "active"),
        summary(d),
        BLOCK,
    )


@scenario(
    "N03",
    "normal 'repeat' 25 h after a moderate result does not refute it",
    "§9.4: a confirming repeat is within 24 elapsed hours",
)
def n03(c: Ctx) -> None:
    """800 d-6 08:00, 2000 d-5 09:00 (25 h). Expected d-5 12:00: blocked treatment_interrupted."""
    p = c.established()
    c.anc(p, c.at(-6, "08:00"), 800)
    c.anc(p, c.at(-5, "09:00"), 2000)
    blocked(c, c.elig(p, c.at(-5, "12:00")), {"treatment_interrupted"}, "d-5")


@scenario("N04", "normal repeat exactly 24 h after a moderate result refutes it", "§9.4, §1")
def n04(c: Ctx) -> None:
    """800 d-6 08:00, 2000 d-5 08:00. Expected d-5 12:00: allowed 28, active."""
    p = c.established()
    c.anc(p, c.at(-6, "08:00"), 800)
    c.anc(p, c.at(-5, "08:00"), 2000)
    allowed(c, c.elig(p, c.at(-5, "12:00")), 28, "d-5")


@scenario(
    "N05",
    "a normal result drawn before the low one (filed later) is not a repeat",
    "§9.4: a confirming repeat is drawn strictly after the first low result",
)
def n05(c: Ctx) -> None:
    """800 d-6 10:00 recorded; then 2000 drawn d-6 09:00 filed. Expected d-6 12:00: blocked,
    confirmation still pending."""
    p = c.established()
    c.anc(p, c.at(-6, "10:00"), 800)
    c.anc(p, c.at(-6, "09:00"), 2000)
    d = c.elig(p, c.at(-6, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-6")
    c.check("confirmation still pending", d.get("confirmation_due") is not None, summary(d))


@scenario(
    "N06", "a severe value of a draw filed after a dispense made on its normal twin", "§9.3, §9.1"
)
def n06(c: Ctx) -> None:
    """Monthly: ANC 2200 d-3 09:00 (acc A), 28 days dispensed d-3 10:00, then ANC 450 of the same
    draw instant (acc B) filed. Expected now: band severe, blocked, rechallenge required."""
    p = c.established()
    when = c.at(-3, "09:00")
    c.anc(p, when, 2200, accession=c.acc())
    c.dispense_import(p, c.at(-3, "10:00"), 28)
    c.anc(p, when, 450, accession=c.acc())
    d = c.elig(p)
    blocked(c, d, {"treatment_interrupted", "rechallenge_not_authorized"}, "now")
    c.check("band severe", d["band"] == "severe", summary(d), UNSAFE)


@scenario(
    "N07",
    "confirmation overdue warning after 24+48 h without a repeat",
    "§9.4: warning confirmation_overdue",
)
def n07(c: Ctx) -> None:
    """Monthly: mild 1200 d-4 08:00, no repeat. d-2 07:00 (47 h): no warning; d-1 09:00 (73 h):
    allowed 7 (mild, three times weekly, current 4 days) with confirmation_overdue."""
    p = c.established()
    c.anc(p, c.at(-4, "08:00"), 1200)
    d = c.elig(p, c.at(-2, "07:00"))
    c.check("47 h: no overdue warning", "confirmation_overdue" not in warning_codes(d), summary(d))
    d = c.elig(p, c.at(-1, "09:00"))
    allowed(c, d, 7, "73 h")
    c.check(
        "73 h: confirmation_overdue warning", "confirmation_overdue" in warning_codes(d), summary(d)
    )


@scenario("N08", "continuation covers the same band later in its episode", "§9.5, §6")
def n08(c: Ctx) -> None:
    """800 d-10, 850 d-9, continuation d-9..d+10, then 700 d-8 (still moderate). Expected d-8
    12:00: allowed 7, daily, authorization applies."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 800)
    c.anc(p, c.at(-9, "07:00"), 850)
    c.auth(p, "continuation", c.day(-9), c.day(10))
    c.anc(p, c.at(-8, "08:00"), 700)
    d = c.elig(p, c.at(-8, "12:00"))
    allowed(c, d, 7, "d-8")
    a = d.get("authorization") or {}
    c.check(
        "daily, authorization shown and applies",
        d["monitoring_frequency"] == "daily" and a.get("applies") is True,
        summary(d),
    )


@scenario(
    "N09",
    "an expired continuation blocks again; its days still counted as on treatment",
    "§9.5, §6",
)
def n09(c: Ctx) -> None:
    """800 d-50, 850 d-49, continuation d-49..d-25, 880 d-27 and 900 d-24. Expected d-26 12:00:
    allowed 7; d-24 12:00: blocked treatment_interrupted, still enrolled."""
    p = c.established()
    c.anc(p, c.at(-50, "08:00"), 800)
    c.anc(p, c.at(-49, "07:00"), 850)
    c.auth(p, "continuation", c.day(-49), c.day(-25))
    c.anc(p, c.at(-27), 880)
    c.anc(p, c.at(-24), 900)
    allowed(c, c.elig(p, c.at(-26, "12:00")), 7, "d-26 (in force)")
    d = c.elig(p, c.at(-24, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-24 (expired)")
    c.check("still enrolled", d["enrollment_status"] == "enrolled", summary(d), BLOCK)


@scenario("N10", "no continuation for a band that does not interrupt", "§6")
def n10(c: Ctx) -> None:
    """Mild 1200 d-2: a continuation is refused (422)."""
    p = c.established()
    c.anc(p, c.at(-2), 1200)
    s, r = c.auth(p, "continuation", c.day(-2), c.day(10), expect=None)
    c.check("continuation for mild refused", s == 422, (s, r), FIELD)


@scenario(
    "N11", "continuation never lifts the prescriber's own interruption", "§9.5; us_label reading 8"
)
def n11(c: Ctx) -> None:
    """800 d-5, 850 d-4, prescriber interrupt d-4, continuation d-4..d+10. Expected d-4 12:00
    and d-3 12:00: blocked treatment_interrupted."""
    p = c.established()
    c.anc(p, c.at(-5, "08:00"), 800)
    c.anc(p, c.at(-4, "07:00"), 850)
    c.event(p, "interrupt", c.day(-4), reason="QTc prolongation")
    c.auth(p, "continuation", c.day(-4), c.day(10))
    c.anc(p, c.at(-3, "08:00"), 870)
    d = c.elig(p, c.at(-3, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-3")
    a = d.get("authorization") or {}
    c.check(
        "the continuation is not shown as applying while it does not lift the block "
        "(the reason says 'no prescriber authorization is in force')",
        a.get("applies") is not True,
        a,
        FIELD,
    )


@scenario(
    "N12",
    "continuation with no supply possible: 46 days without clozapine is a lapse",
    "§9.5: a continuation counts as on treatment only while it actually allows a supply; §4",
)
def n12(c: Ctx) -> None:
    """Monthly patient with dispenses: ANC d-82, 28 days d-81 (to d-54); 800 d-55, 850 d-54
    (interrupted by neutropenia d-55); continuation d-54..d-25; 7 days d-53 (supply to d-47). No
    ANC after d-54 (daily window 2 days: no supply possible after d-52). 1600 d-10; resume d-10.
    Expected: supply ran out d-47 and no supply was possible, so the lapse falls on d-17; on
    d-10 re-enrollment is required: resume refused, decision blocked patient_not_enrolled."""
    p = c.established(520)
    c.anc(p, c.at(-82), 2500)
    c.dispense_import(p, c.at(-81, "10:00"), 28)
    c.anc(p, c.at(-55, "08:00"), 800)
    c.anc(p, c.at(-54, "07:00"), 850)
    c.auth(p, "continuation", c.day(-54), c.day(-25))
    c.dispense_import(p, c.at(-53, "10:00"), 7)
    c.anc(p, c.at(-10, "09:00"), 1600)
    d = c.elig(p, c.at(-12, "12:00"))
    c.check(
        "d-12 (before any resume): re-enrollment required",
        d["enrollment_status"] == "reenrollment_required",
        summary(d),
        UNSAFE,
    )
    s, r = c.event(p, "resume", c.day(-10), expect=None)
    c.check("resume d-10 refused (lapsed)", s in (409, 422), (s, r), UNSAFE)
    d = c.elig(p, c.at(-10, "12:00"))
    blocked(c, d, {"patient_not_enrolled"}, "d-10")


@scenario("N13", "supply-based lapse: day 29 enrolled, day 30 re-enrollment", "§4")
def n13(c: Ctx) -> None:
    """ANC d-62, 28 days dispensed d-61 (first day without supply d-33 = day 0). Expected: d-4
    enrolled; d-3 re-enrollment required, blocked patient_not_enrolled."""
    p = c.established()
    c.anc(p, c.at(-62, "08:00"), 2500)
    c.dispense_import(p, c.at(-61, "10:00"), 28)
    d = c.elig(p, c.at(-4, "12:00"))
    c.check("day 29: enrolled", d["enrollment_status"] == "enrolled", summary(d), BLOCK)
    d = c.elig(p, c.at(-3, "12:00"))
    blocked(c, d, {"patient_not_enrolled"}, "day 30")


@scenario(
    "N14",
    "interruption-based lapse: day 29 enrolled, day 30 re-enrollment; resume after it",
    "§4, §2",
)
def n14(c: Ctx) -> None:
    """Prescriber interrupt d-40. Expected d-11 enrolled, d-10 re-enrollment required; resume d-5
    refused (409); ANC d-4, re-enroll d-4, start d-4: d-3 allowed 7, weekly, clock d-4."""
    p = c.established()
    c.event(p, "interrupt", c.day(-40))
    d = c.elig(p, c.at(-11, "12:00"))
    c.check("day 29: enrolled", d["enrollment_status"] == "enrolled", summary(d), BLOCK)
    d = c.elig(p, c.at(-10, "12:00"))
    c.check(
        "day 30: re-enrollment required",
        d["enrollment_status"] == "reenrollment_required",
        summary(d),
        UNSAFE,
    )
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check("resume after the lapse refused", s in (409, 422), (s, r), UNSAFE)
    c.anc(p, c.at(-4, "08:00"), 2400)
    c.enroll(p, c.day(-4))
    c.event(p, "start", c.day(-4))
    d = c.elig(p, c.at(-3, "12:00"))
    allowed(c, d, 7, "d-3 after re-enrollment")
    c.check(
        "weekly from a restarted clock",
        d["monitoring_frequency"] == "weekly" and d.get("clock_started_on") == c.day(-4),
        summary(d),
        UNSAFE,
    )


@scenario("N15", "interruption and supply: the earlier start of the gap counts", "§5, §4")
def n15(c: Ctx) -> None:
    """ANC d-60, 28 days d-59 (to d-31); prescriber interrupt d-35 (day 0). Expected d-6
    enrolled, d-5 re-enrollment required."""
    p = c.established()
    c.anc(p, c.at(-60, "08:00"), 2500)
    c.dispense_import(p, c.at(-59, "10:00"), 28)
    c.event(p, "interrupt", c.day(-35))
    d = c.elig(p, c.at(-6, "12:00"))
    c.check("day 29: enrolled", d["enrollment_status"] == "enrolled", summary(d), BLOCK)
    d = c.elig(p, c.at(-5, "12:00"))
    c.check(
        "day 30: re-enrollment required",
        d["enrollment_status"] == "reenrollment_required",
        summary(d),
        UNSAFE,
    )


@scenario("N16", "re-enrollment needs an ANC within 30 days (31 refused)", "§4")
def n16(c: Ctx) -> None:
    """Discontinued d-50; ANC 2400 d-41. Re-enroll d-10 refused (anc_not_recent, 31 days);
    re-enroll d-11 accepted (30 days)."""
    p = c.established()
    c.event(p, "discontinue", c.day(-50))
    c.anc(p, c.at(-41), 2400)
    s, r = c.enroll(p, c.day(-10), expect=None)
    c.check(
        "31 days: refused anc_not_recent", s == 422 and "anc_not_recent" in codes(r), (s, r), UNSAFE
    )
    s, r = c.enroll(p, c.day(-11), expect=None)
    c.check("30 days: accepted", s == 200, (s, r), BLOCK)


@scenario("N17", "re-enrollment with the latest ANC mild is refused", "§4; us_label reading 9")
def n17(c: Ctx) -> None:
    """Discontinued d-50; ANC 2400 d-20, 1300 d-15; re-enroll d-10 refused anc_below_threshold."""
    p = c.established()
    c.event(p, "discontinue", c.day(-50))
    c.anc(p, c.at(-20), 2400)
    c.anc(p, c.at(-15), 1300)
    s, r = c.enroll(p, c.day(-10), expect=None)
    c.check(
        "refused anc_below_threshold",
        s == 422 and "anc_below_threshold" in codes(r),
        (s, r),
        UNSAFE,
    )


@scenario("N18", "BEN enrollment needs two baseline ANCs", "§4")
def n18(c: Ctx) -> None:
    """BEN: ANC 1200 d-5: enroll d-5 refused (baseline_incomplete); ANC 1300 d-3: enroll d-3
    accepted."""
    p = c.patient("ben")
    c.anc(p, c.at(-5), 1200)
    s, r = c.enroll(p, c.day(-5), expect=None)
    c.check("one baseline: refused", s == 422 and "baseline_incomplete" in codes(r), (s, r), UNSAFE)
    c.anc(p, c.at(-3), 1300)
    s, r = c.enroll(p, c.day(-3), expect=None)
    c.check("two baselines: accepted", s == 200, (s, r), BLOCK)


@scenario("N19", "BEN re-enrollment after a lapse needs new baselines", "§9.8, R9")
def n19(c: Ctx) -> None:
    """BEN course 1: 1300 d-120, 1200 d-110, enroll and start d-110; interrupt d-80 (lapse d-50).
    ANC 1250 d-10: re-enroll d-10 refused (baseline_incomplete); 1150 d-8: re-enroll d-8 accepted,
    baseline 1200."""
    p = c.patient("ben")
    c.anc(p, c.at(-120), 1300)
    c.anc(p, c.at(-110), 1200)
    c.enroll(p, c.day(-110))
    c.event(p, "start", c.day(-110))
    c.event(p, "interrupt", c.day(-80))
    c.anc(p, c.at(-10), 1250)
    s, r = c.enroll(p, c.day(-10), expect=None)
    c.check(
        "one new baseline: refused", s == 422 and "baseline_incomplete" in codes(r), (s, r), UNSAFE
    )
    c.anc(p, c.at(-8), 1150)
    s, r = c.enroll(p, c.day(-8), expect=None)
    c.check("two new baselines: accepted", s == 200, (s, r), BLOCK)
    if s == 200:
        m = c.picture(p)["monitoring"]
        c.check(
            "baseline 1200 from the new course",
            m.get("ben_baseline_per_ul") == 1200,
            m.get("ben_baseline_per_ul"),
        )


@scenario("N20", "BEN severe recovers only at the baseline (1400)", "§1 BEN table, §9.8")
def n20(c: Ctx) -> None:
    """BEN baselines 1300, 1500 (1400); start d-20. 400 d-10, 420 d-9 (confirmed); 600 d-7;
    1100 d-5; 1450 d-3. Expected: d-7 three_times_weekly; d-5 still in the episode (band severe,
    three_times_weekly); d-3 episode closed, rechallenge required, no frequency, blocked."""
    p = c.patient("ben")
    c.anc(p, c.at(-24), 1300)
    c.anc(p, c.at(-21), 1500)
    c.enroll(p, c.day(-21))
    c.event(p, "start", c.day(-20))
    c.anc(p, c.at(-10, "08:00"), 400)
    c.anc(p, c.at(-9, "07:00"), 420)
    c.anc(p, c.at(-7), 600)
    d = c.elig(p, c.at(-7, "12:00"))
    c.check(
        "600: three times weekly", d["monitoring_frequency"] == "three_times_weekly", summary(d)
    )
    c.anc(p, c.at(-5), 1100)
    d = c.elig(p, c.at(-5, "12:00"))
    c.check(
        "1100 < baseline: still severe episode, three times weekly",
        (d["band"], d["monitoring_frequency"]) == ("severe", "three_times_weekly"),
        summary(d),
        UNSAFE,
    )
    c.anc(p, c.at(-3), 1450)
    d = c.elig(p, c.at(-3, "12:00"))
    blocked(c, d, {"rechallenge_not_authorized"}, "d-3 recovered")
    c.check(
        "recovered, not rechallenged: no frequency",
        d["monitoring_frequency"] is None and d.get("rechallenge_required") is True,
        summary(d),
    )


@scenario("N21", "BEN baseline below 1000: recovery threshold floored at 1000", "§9.8")
def n21(c: Ctx) -> None:
    """BEN pre-dose 800 d-20 and 1100 d-10 (baseline 950); start d-9; 400 d-7, 380 d-6; 980 d-4
    must not end the severe episode; 1000 d-2 does."""
    p = c.patient("ben")
    c.anc(p, c.at(-20), 800)
    c.anc(p, c.at(-10), 1100)
    c.enroll(p, c.day(-10))
    c.event(p, "start", c.day(-9))
    c.anc(p, c.at(-7, "08:00"), 400)
    c.anc(p, c.at(-6, "07:00"), 380)
    c.anc(p, c.at(-4), 980)
    d = c.elig(p, c.at(-4, "12:00"))
    c.check(
        "980: episode still open (band severe)",
        d["band"] == "severe" and d["monitoring_frequency"] == "three_times_weekly",
        summary(d),
        UNSAFE,
    )
    c.anc(p, c.at(-2), 1000)
    d = c.elig(p, c.at(-2, "12:00"))
    c.check(
        "1000: episode closed (no frequency until rechallenge)",
        d["monitoring_frequency"] is None,
        summary(d),
    )


@scenario("N22", "BEN neutropenia continues treatment", "§1 BEN table")
def n22(c: Ctx) -> None:
    """BEN established; 700 d-3, 720 d-2. Expected d-2 12:00: allowed 7, ben_neutropenia,
    three_times_weekly, consult, active."""
    p = c.established(population="ben")
    c.anc(p, c.at(-3, "08:00"), 700)
    c.anc(p, c.at(-2, "07:00"), 720)
    d = c.elig(p, c.at(-2, "12:00"))
    allowed(c, d, 7, "d-2")
    c.check(
        "ben_neutropenia, three times weekly, consult, active",
        (d["band"], d["monitoring_frequency"], d["hematology_consult"], d["treatment_status"])
        == ("ben_neutropenia", "three_times_weekly", True, "active"),
        summary(d),
    )


@scenario(
    "N23",
    "severe before any clozapine, then a first supply (no start event)",
    "§9.7, §2: a first supply starts the clock",
)
def n23(c: Ctx) -> None:
    """ANC 300 d-30, 2000 d-10, enroll d-10, 7 days dispensed d-9 10:00 (accepted). Expected:
    clock d-9, no rechallenge; d-8 12:00 max 1 day (6 on hand)."""
    p = c.patient()
    c.anc(p, c.at(-30), 300)
    c.anc(p, c.at(-10), 2000)
    c.enroll(p, c.day(-10))
    s, r = c.dispense_import(p, c.at(-9, "10:00"), 7, expect=None)
    c.check("first supply accepted", s == 201, (s, r), BLOCK)
    d = c.elig(p, c.at(-8, "12:00"))
    c.check(
        "clock d-9, no rechallenge, max 1",
        d.get("clock_started_on") == c.day(-9)
        and d.get("rechallenge_required") is False
        and d["max_days_supply"] == 1,
        summary(d),
    )


@scenario("N24", "severe drawn on the start day, filed later: read as on treatment", "R3, §9.1")
def n24(c: Ctx) -> None:
    """ANC 2000 d-20, enroll d-20, start d-10; ANC 350 drawn d-10 06:00 filed later. Expected
    d-9: blocked (treatment_interrupted, rechallenge_not_authorized), review_needed."""
    p = c.patient()
    c.anc(p, c.at(-20), 2000)
    c.enroll(p, c.day(-20))
    c.event(p, "start", c.day(-10))
    c.anc(p, c.at(-10, "06:00"), 350)
    d = c.elig(p, c.at(-9, "12:00"))
    blocked(c, d, {"treatment_interrupted", "rechallenge_not_authorized"}, "d-9")
    c.check("review_needed raised", bool(d.get("review_needed")), summary(d))


@scenario(
    "N25",
    "severe drawn the day before the start, filed later: start stands, interrupts, no rechallenge",
    "§9.1, §9.7, R4",
)
def n25(c: Ctx) -> None:
    """ANC 2000 d-20, enroll d-20, start d-10; ANC 350 drawn d-11 filed later. Expected d-9:
    blocked treatment_interrupted, rechallenge not required, review_needed. ANC 1600 d-8;
    resume d-8 accepted; d-7 allowed 7."""
    p = c.patient()
    c.anc(p, c.at(-20), 2000)
    c.enroll(p, c.day(-20))
    c.event(p, "start", c.day(-10))
    c.anc(p, c.at(-11), 350)
    d = c.elig(p, c.at(-9, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-9")
    c.check("no rechallenge (pre-dose)", d.get("rechallenge_required") is False, summary(d), BLOCK)
    c.check("review_needed raised", bool(d.get("review_needed")), summary(d))
    c.anc(p, c.at(-8), 1600)
    s, r = c.event(p, "resume", c.day(-8), expect=None)
    c.check("resume accepted", s == 201, (s, r), BLOCK)
    allowed(c, c.elig(p, c.at(-7, "12:00")), 7, "d-7")


@scenario(
    "N26",
    "moderate drawn on the start day, filed later: interrupts (only mild continues)",
    "§9.1, §9.2, R4",
)
def n26(c: Ctx) -> None:
    """ANC 2000 d-20, enroll d-20, start d-10; ANC 800 drawn d-10 07:00 filed later. Expected d-9:
    blocked treatment_interrupted, review_needed."""
    p = c.patient()
    c.anc(p, c.at(-20), 2000)
    c.enroll(p, c.day(-20))
    c.event(p, "start", c.day(-10))
    c.anc(p, c.at(-10, "07:00"), 800)
    d = c.elig(p, c.at(-9, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-9")
    c.check("review_needed raised", bool(d.get("review_needed")), summary(d))


@scenario("N27", "dates in the future are refused", "§4, §9.5")
def n27(c: Ctx) -> None:
    """Enrollment, a treatment event and an authorization dated tomorrow: 400; an
    authorization longer than 30 days: 400."""
    p = c.patient()
    c.anc(p, c.at(-1), 2500)
    s, r = c.enroll(p, c.day(1), expect=None)
    c.check("enrollment tomorrow refused (400)", s == 400, (s, r), FIELD)
    c.enroll(p, c.day(-1))
    s, r = c.event(p, "start", c.day(1), expect=None)
    c.check("start tomorrow refused (400)", s == 400, (s, r), FIELD)
    c.event(p, "start", c.day(-1))
    c.anc(p, c.at(-1, "15:00"), 800)
    s, r = c.auth(p, "continuation", c.day(1), c.day(10), expect=None)
    c.check("authorization starting tomorrow refused (400)", s == 400, (s, r), FIELD)
    s, r = c.auth(p, "continuation", c.day(-1), c.day(40), expect=None)
    c.check("authorization of 41 days refused (400)", s == 400, (s, r), FIELD)


@scenario("N28", "an expired pharmacy certification blocks", "§7, §9.12")
def n28(c: Ctx) -> None:
    """Pharmacy certification expired yesterday. Expected: pharmacy_not_certified."""
    hid, ph = c.w.new_pharmacy("Expired Pharmacy", certification_expires_on=c.day(-1))
    p = c.established(60)
    c.anc(p, c.at(-1), 2500)
    blocked(c, c.elig(p, who=ph), {"pharmacy_not_certified"}, "now")


@scenario(
    "N29", "an expired prescriber: blocked, no emergency supply, no authorization", "§7, §10, §6"
)
def n29(c: Ctx) -> None:
    """Prescriber certified 2020 to d-1; patient enrolled/started d-430, latest ANC d-33. Now:
    blocked with prescriber_not_certified and anc_not_current; no emergency supply."""
    pid, pres = c.w.new_prescriber("Dr Expired", certification_expires_on=c.day(-1))
    saved = c.pres
    c.pres = pres
    try:
        p = c.patient(prescriber_id=pid)
        c.anc(p, c.at(-430, "08:00"), 2600)
        c.enroll(p, c.day(-430))
        c.event(p, "start", c.day(-430))
        c.anc(p, c.at(-33), 2500)
        c.elsewhere(p, c.day(-20), c.day(-1))
    finally:
        c.pres = saved
    d = c.elig(p)
    blocked(c, d, {"prescriber_not_certified"}, "now")
    c.check("emergency not offered", d.get("emergency_supply") is None, summary(d), UNSAFE)


@scenario(
    "N30", "monthly: 28 days dispensed today leaves 0 today, 9 days when 19 are on hand", "§9.13"
)
def n30(c: Ctx) -> None:
    """Monthly, ANC d-11, 28 days dispensed d-10 10:00. d-10 15:00: max 0; d-1 10:00: max 9."""
    p = c.established()
    c.anc(p, c.at(-11), 2500)
    c.dispense_import(p, c.at(-10, "10:00"), 28)
    d = c.elig(p, c.at(-10, "15:00"))
    c.check("same day: max 0", d["max_days_supply"] == 0, summary(d), UNSAFE)
    d = c.elig(p, c.at(-1, "10:00"))
    c.check("19 days on hand: max 9", d["max_days_supply"] == 9, summary(d))


@scenario(
    "N31",
    "emergency supply withheld while a consult is pending; offered after it is acknowledged",
    "§10, §9.4",
)
def n31(c: Ctx) -> None:
    """Monthly: severe 400 d-36, normal 2200 d-35 06:00 (unconfirmed; consult stays), resume d-35,
    28 days dispensed d-29 (ran out at the start of d-1). Now the ANC is 35 days old. Expected:
    emergency withheld (consult pending); after the consult acknowledgement, offered."""
    p = c.established()
    c.anc(p, c.at(-36, "08:00"), 400)
    c.anc(p, c.at(-35, "06:00"), 2200)
    c.event(p, "resume", c.day(-35))
    c.dispense_import(p, c.at(-29, "10:00"), 28)
    d = c.elig(p)
    c.check(
        "emergency withheld while the consult is pending",
        d.get("emergency_supply") is None and bool(withheld(d)),
        summary(d),
        UNSAFE,
    )
    s, r = c.pres.call("POST", f"/api/v1/patients/{p}/consult-acknowledgement/", {"note": "seen"})
    c.need(s, r, 201, "consult acknowledgement")
    d = c.elig(p)
    c.check(
        "after acknowledgement: offered",
        (d.get("emergency_supply") or {}).get("available") is True,
        summary(d),
        BLOCK,
    )


@scenario("N32", "no emergency supply under uk-cpms", "§10")
def n32(c: Ctx) -> None:
    """uk-cpms: FBC d-10 (weekly), 7 days dispensed d-8 (ran out at d-1). Now the set is 10 days
    old. Expected: emergency withheld; POST refused."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-40), "6.0", "3.0")
    c.enroll(p, c.day(-40))
    c.event(p, "start", c.day(-40))
    c.fbc(p, c.at(-10), "6.0", "3.0")
    c.dispense_import(p, c.at(-8, "10:00"), 7)
    d = c.elig(p)
    c.check("emergency not offered", d.get("emergency_supply") is None, summary(d), UNSAFE)
    s, r = c.dispense_now(p, 2, {"reason": "lab_delay"})
    c.check("emergency POST refused", s == 422, (s, r), UNSAFE)


@scenario(
    "N33",
    "emergency used; a late ANC drawn before it is filed: still used since that ANC",
    "§10: no emergency supply was made since that ANC",
)
def n33(c: Ctx) -> None:
    """Monthly: ANC d-34, 28 days d-29 (to d-1); emergency 4 days now (201). Then an ANC drawn
    d-33 is filed (older than the emergency). Expected: a second emergency refused. Then an ANC
    drawn 1 h ago: normal supply allowed, at most 24 days (4 on hand)."""
    p = c.established()
    c.anc(p, c.at(-34), 2500)
    c.dispense_import(p, c.at(-29, "10:00"), 28)
    s, r = c.dispense_now(p, 4, {"reason": "weather"})
    c.check("first emergency recorded", s == 201, (s, r), BLOCK)
    c.anc(p, c.at(-33), 2400)
    d = c.elig(p)
    c.check("second emergency withheld", d.get("emergency_supply") is None, summary(d), UNSAFE)
    s, r = c.dispense_now(p, 4, {"reason": "weather"})
    c.check("second emergency POST refused", s == 422, (s, r), UNSAFE)
    c.anc(p, c.in_minutes(-60), 2500)
    d = c.elig(p)
    allowed(c, d, 24, "after a current ANC")


@scenario("N34", "emergency for a patient supplied elsewhere until yesterday", "§10, R12")
def n34(c: Ctx) -> None:
    """Monthly, no dispenses here; supplied elsewhere d-20..d-1; ANC d-34. Expected: offered
    without asking for the last dose; a 4-day emergency supply recorded (201)."""
    p = c.established()
    c.anc(p, c.at(-34), 2500)
    c.elsewhere(p, c.day(-20), c.day(-1))
    d = c.elig(p)
    em = d.get("emergency_supply") or {}
    c.check(
        "offered, no last-dose question",
        em.get("available") is True and em.get("needs_last_dose_confirmation") is False,
        summary(d),
        BLOCK,
    )
    s, r = c.dispense_now(p, 4, {"reason": "inpatient_leave"})
    c.check("recorded", s == 201, (s, r), BLOCK)


@scenario("N35", "emergency: no supply recorded, the pharmacist must confirm the last dose", "§10")
def n35(c: Ctx) -> None:
    """Monthly, no supply recorded; ANC d-34. Emergency without last_dose_confirmed: refused
    asking for it; with false: refused; with true: recorded."""
    p = c.established()
    c.anc(p, c.at(-34), 2500)
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay"})
    c.check("without the last-dose word: refused", s == 422, (s, r), UNSAFE)
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay", "last_dose_confirmed": False})
    c.check("last dose not recent: refused", s == 422, (s, r), UNSAFE)
    s, r = c.dispense_now(p, 4, {"reason": "lab_delay", "last_dose_confirmed": True})
    c.check("last dose confirmed: recorded", s == 201, (s, r), BLOCK)


@scenario("N36", "emergency refused when the supply ran out more than 48 h ago", "§10")
def n36(c: Ctx) -> None:
    """Monthly: ANC d-34, 28 days d-30 (ran out at the start of d-2, > 48 h ago now). Expected:
    withheld off_clozapine."""
    p = c.established()
    c.anc(p, c.at(-34), 2500)
    c.dispense_import(p, c.at(-30, "10:00"), 28)
    d = c.elig(p)
    c.check(
        "withheld: off clozapine",
        d.get("emergency_supply") is None and "emergency_supply_off_clozapine" in withheld(d),
        summary(d),
        UNSAFE,
    )


@scenario("N37", "emergency refused while a mild first result awaits its repeat", "§10")
def n37(c: Ctx) -> None:
    """Monthly: ANC d-30, 28 days dispensed d-29 (ran out at the start of d-1); mild 1200 d-6,
    never repeated. Now blocked by anc_not_current (three times weekly, 4-day window).
    Expected: emergency withheld (an open episode, a confirmation pending)."""
    p = c.established()
    c.anc(p, c.at(-30), 2500)
    c.dispense_import(p, c.at(-29, "10:00"), 28)
    c.anc(p, c.at(-6), 1200)
    d = c.elig(p)
    blocked(c, d, {"anc_not_current"}, "now")
    c.check("emergency withheld", d.get("emergency_supply") is None, summary(d), UNSAFE)


@scenario(
    "N38", "supplied elsewhere bridges the supply lapse but never makes the ANC current", "§9.14"
)
def n38(c: Ctx) -> None:
    """ANC d-62, 28 days d-61 (to d-33); supplied elsewhere d-33..d-5. Expected now: enrolled,
    blocked by anc_not_current only. ANC d-1: allowed 28 with a re-titration warning."""
    p = c.established()
    c.anc(p, c.at(-62, "08:00"), 2500)
    c.dispense_import(p, c.at(-61, "10:00"), 28)
    c.elsewhere(p, c.day(-33), c.day(-5))
    d = c.elig(p)
    c.check(
        "enrolled; blocked by anc_not_current only",
        d["enrollment_status"] == "enrolled" and codes(d) == {"anc_not_current"},
        summary(d),
        BLOCK,
    )
    c.anc(p, c.at(-1), 2500)
    d = c.elig(p)
    allowed(c, d, 28, "after a current ANC")
    c.check(
        "re-titration warning (ran out d-4)", "retitration_needed" in warning_codes(d), summary(d)
    )


@scenario("N39", "supplied-elsewhere periods may not be in the future", "R14")
def n39(c: Ctx) -> None:
    """A period ending tomorrow: 400."""
    p = c.established()
    s, r = c.elsewhere(p, c.day(-3), c.day(1), expect=None)
    c.check("future period refused (400)", s == 400, (s, r), FIELD)


@scenario(
    "N40",
    "an inpatient stay recorded after the lapse date undoes the derived lapse",
    "§9.14, §4 (the lapse is derived from the history)",
)
def n40(c: Ctx) -> None:
    """ANC d-80, 28 days d-79 (to d-51; lapse d-21 without more). Supplied elsewhere d-51..d-2
    recorded now. Expected: enrolled now."""
    p = c.established(520)
    c.anc(p, c.at(-80), 2500)
    c.dispense_import(p, c.at(-79, "10:00"), 28)
    c.check(
        "lapsed before the period is recorded",
        c.elig(p)["enrollment_status"] == "reenrollment_required",
        None,
    )
    c.elsewhere(p, c.day(-51), c.day(-2))
    d = c.elig(p)
    c.check(
        "enrolled once the stay is recorded",
        d["enrollment_status"] == "enrolled",
        summary(d),
        BLOCK,
    )


@scenario("N41", "discontinue, re-enroll and start: the clock restarts weekly", "§2, §4")
def n41(c: Ctx) -> None:
    """Monthly patient discontinued d-20 (blocked treatment_discontinued); ANC d-6, re-enroll d-6,
    start d-5: d-4 allowed 7, weekly."""
    p = c.established()
    c.event(p, "discontinue", c.day(-20))
    c.anc(p, c.at(-19), 2500)
    blocked(c, c.elig(p, c.at(-19, "12:00")), {"treatment_discontinued"}, "d-19")
    c.anc(p, c.at(-6), 2500)
    c.enroll(p, c.day(-6))
    c.event(p, "start", c.day(-5))
    d = c.elig(p, c.at(-4, "12:00"))
    allowed(c, d, 7, "d-4")
    c.check("weekly", d["monitoring_frequency"] == "weekly", summary(d), UNSAFE)


@scenario("N42", "uk-cpms: neutrophils alone never enroll", "§9.9")
def n42(c: Ctx) -> None:
    """uk-cpms: neutrophils 3.0 alone d-3; enroll d-3 refused."""
    p = c.patient(protocol="uk-cpms")
    c.result(p, c.at(-3), "3.0", unit="10*9/L", accession=c.acc())
    s, r = c.enroll(p, c.day(-3), expect=None)
    c.check("refused", s == 422, (s, r), UNSAFE)


@scenario(
    "N43",
    "uk-cpms red: two consecutive complete greens; incomplete sets don't count, amber resets",
    "uk_cpms readings 2, 4, 5; §9.9",
)
def n43(c: Ctx) -> None:
    """Red d-10; green d-9; neutrophils alone 3.0 d-8 (d-8: still red, daily); amber d-7; green
    d-6 (still red); green d-5 (closed; rechallenge required). Resume d-5 refused without
    rechallenge; with one accepted: d-4 allowed 7, weekly, clock d-5."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-100), "6.0", "3.0")
    c.enroll(p, c.day(-100))
    c.event(p, "start", c.day(-100))
    c.fbc(p, c.at(-10), "2.8", "1.2")
    c.fbc(p, c.at(-9), "6.0", "3.0")
    c.result(p, c.at(-8), "3.0", unit="10*9/L", accession=c.acc())
    d = c.elig(p, c.at(-8, "12:00"))
    c.check(
        "d-8: red, daily",
        (d["band"], d["monitoring_frequency"]) == ("red", "daily"),
        summary(d),
        UNSAFE,
    )
    c.fbc(p, c.at(-7), "3.2", "1.8")
    c.fbc(p, c.at(-6), "6.0", "3.0")
    d = c.elig(p, c.at(-6, "12:00"))
    c.check("d-6: still red (amber broke the run)", d["band"] == "red", summary(d), UNSAFE)
    c.fbc(p, c.at(-5), "6.0", "3.0")
    d = c.elig(p, c.at(-5, "12:00"))
    blocked(c, d, {"rechallenge_not_authorized"}, "d-5 closed")
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check("resume without rechallenge refused", s == 422, (s, r), UNSAFE)
    c.auth(p, "rechallenge", c.day(-5), c.day(20))
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check("resume with rechallenge accepted", s == 201, (s, r), BLOCK)
    d = c.elig(p, c.at(-4, "12:00"))
    allowed(c, d, 7, "d-4")
    c.check(
        "weekly, clock d-5",
        d["monitoring_frequency"] == "weekly" and d.get("clock_started_on") == c.day(-5),
        summary(d),
    )


@scenario("N44", "uk-cpms: a WBC alone in the red range interrupts", "§9.9, uk reading 2")
def n44(c: Ctx) -> None:
    """Green FBC d-3; WBC 2.5 alone d-1. Expected now: red, interrupted, blocked."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-40), "6.0", "3.0")
    c.enroll(p, c.day(-40))
    c.event(p, "start", c.day(-40))
    c.fbc(p, c.at(-3), "6.0", "3.0")
    c.result(p, c.at(-1), "2.5", unit="10*9/L", accession=c.acc(), analyte="wbc")
    d = c.elig(p)
    blocked(c, d, {"treatment_interrupted"}, "now")
    c.check("band red", d["band"] == "red", summary(d), UNSAFE)


@scenario(
    "N45",
    "uk-cpms: counts at the same instant with different accessions",
    "§9.3 (same instant = one draw) vs uk_cpms reading 1",
)
def n45(c: Ctx) -> None:
    """Neutrophils 3.0 (acc A) and WBC 6.0 (acc B), same drawn_at d-3. §9.3 reads them as one
    draw: enrollment accepted. (uk_cpms reading 1 says the accessions must match.)"""
    p = c.patient(protocol="uk-cpms")
    c.result(p, c.at(-3), "3.0", unit="10*9/L", accession=c.acc())
    c.result(p, c.at(-3), "6.0", unit="10*9/L", accession=c.acc(), analyte="wbc")
    s, r = c.enroll(p, c.day(-3), expect=None)
    c.check("enrollment accepted (one draw)", s == 200, (s, r), BLOCK)


def _compare(c: Ctx, what: str, pairs: list[tuple[str, dict, dict]]) -> None:
    for when, a, b in pairs:
        c.check(
            f"{what} {when}: same decision in both orders",
            summary(a) == summary(b),
            [summary(a), summary(b)],
            UNSAFE,
        )


@scenario(
    "N46",
    "permutation: prescriber interrupt vs a late moderate result",
    "§9.3: any order of the same writes gives the same decision",
)
def n46(c: Ctx) -> None:
    """X: interrupt d-10, then 800 d-12 and 850 d-11 filed. Y: the results first, then interrupt
    d-10. Both: 1200 d-6, resume d-6. Expected equal decisions d-9 and d-5 (blocked; then
    allowed 7, three times weekly)."""
    x = c.established()
    c.event(x, "interrupt", c.day(-10))
    c.anc(x, c.at(-12, "08:00"), 800)
    c.anc(x, c.at(-11, "07:00"), 850)
    y = c.established()
    c.anc(y, c.at(-12, "08:00"), 800)
    c.anc(y, c.at(-11, "07:00"), 850)
    c.event(y, "interrupt", c.day(-10))
    for p in (x, y):
        c.anc(p, c.at(-6), 1200)
        c.event(p, "resume", c.day(-6))
    a9, b9 = c.elig(x, c.at(-9, "12:00")), c.elig(y, c.at(-9, "12:00"))
    a5, b5 = c.elig(x, c.at(-5, "12:00")), c.elig(y, c.at(-5, "12:00"))
    _compare(c, "interrupt/result", [("d-9", a9, b9), ("d-5", a5, b5)])
    allowed(c, a5, 7, "X d-5")


@scenario("N47", "permutation: low result and its normal repeat filed in reverse order", "§9.3")
def n47(c: Ctx) -> None:
    """700 d-4 08:00 and 1900 d-3 07:00, in both orders. Expected: unconfirmed; same decisions."""
    x, y = c.established(), c.established()
    c.anc(x, c.at(-4, "08:00"), 700)
    c.anc(x, c.at(-3, "07:00"), 1900)
    c.anc(y, c.at(-3, "07:00"), 1900)
    c.anc(y, c.at(-4, "08:00"), 700)
    a, b = c.elig(x, c.at(-3, "12:00")), c.elig(y, c.at(-3, "12:00"))
    _compare(c, "low/repeat", [("d-3", a, b)])
    allowed(c, a, 28, "X d-3")


@scenario("N48", "permutation: dispense vs a late mild result of the same morning", "§9.3, §9.2")
def n48(c: Ctx) -> None:
    """X: ANC 2500 d-8, 7 days dispensed d-7 10:00, then mild 1200 drawn d-7 08:00 filed.
    Y: the mild first, then the dispense. Expected equal decisions d-6 and d-2."""
    x, y = c.established(), c.established()
    for p in (x, y):
        c.anc(p, c.at(-8, "08:00"), 2500)
    c.dispense_import(x, c.at(-7, "10:00"), 7)
    c.anc(x, c.at(-7, "08:00"), 1200)
    c.anc(y, c.at(-7, "08:00"), 1200)
    c.dispense_import(y, c.at(-7, "10:00"), 7)
    _compare(
        c,
        "dispense/mild",
        [
            ("d-6", c.elig(x, c.at(-6, "12:00")), c.elig(y, c.at(-6, "12:00"))),
            ("d-2", c.elig(x, c.at(-2, "12:00")), c.elig(y, c.at(-2, "12:00"))),
        ],
    )


@scenario("N49", "permutation: four results filed newest first", "§9.3")
def n49(c: Ctx) -> None:
    """2500 d-10, 900 d-6 08:00, 950 d-5 07:00, 1600 d-2, filed oldest-first for X and
    newest-first for Y. Expected: equal; blocked treatment_interrupted (no resume)."""
    x, y = c.established(), c.established()
    rows = [(c.at(-10), 2500), (c.at(-6, "08:00"), 900), (c.at(-5, "07:00"), 950), (c.at(-2), 1600)]
    for when, v in rows:
        c.anc(x, when, v)
    for when, v in reversed(rows):
        c.anc(y, when, v)
    a, b = c.elig(x, c.at(-1, "12:00")), c.elig(y, c.at(-1, "12:00"))
    _compare(
        c,
        "four results",
        [("d-1", a, b), ("d-5", c.elig(x, c.at(-5, "12:00")), c.elig(y, c.at(-5, "12:00")))],
    )
    blocked(c, a, {"treatment_interrupted"}, "X d-1")


@scenario("N50", "a lab correction of a severe value to normal replaces it", "§8")
def n50(c: Ctx) -> None:
    """Weekly: ANC 300 d-2 (acc A) then corrected to 3000 (acc A, status corrected). Expected:
    band normal, active, allowed 7."""
    p = c.established(60)
    a = c.acc()
    c.anc(p, c.at(-2), 300, accession=a)
    s, r = c.result(p, c.at(-2), 3000, accession=a, status="corrected", expect=None)
    c.check("correction accepted", s in (200, 201), (s, r), BLOCK)
    d = c.elig(p)
    allowed(c, d, 7, "now")
    c.check(
        "band normal, active",
        (d["band"], d["treatment_status"]) == ("normal", "active"),
        summary(d),
        BLOCK,
    )


@scenario("N51", "a lab correction of a normal value to severe takes effect", "§8")
def n51(c: Ctx) -> None:
    """Weekly: ANC 3000 d-2 (acc B), corrected to 300. Expected: severe, blocked."""
    p = c.established(60)
    a = c.acc()
    c.anc(p, c.at(-2), 3000, accession=a)
    c.result(p, c.at(-2), 300, accession=a, status="corrected", expect=(200, 201))
    d = c.elig(p)
    blocked(c, d, {"treatment_interrupted"}, "now")


@scenario("N52", "the same result delivered twice is stored once", "§8")
def n52(c: Ctx) -> None:
    """ANC 2500 d-1 acc C posted twice: second answer 200, one result listed."""
    p = c.established(60)
    a = c.acc()
    c.anc(p, c.at(-1), 2500, accession=a)
    s, r = c.result(p, c.at(-1), 2500, accession=a, expect=None)
    c.check("second delivery answered 200", s == 200, s, FIELD)
    s, lst = c.pres.call("GET", f"/api/v1/patients/{p}/anc-results/")
    c.check("stored once", sum(1 for x in lst["results"] if x["accession"] == a) == 1, lst["count"])


@scenario("N53", "moderate without a continuation: daily monitoring, no supply", "§3, §5")
def n53(c: Ctx) -> None:
    """800 d-2 08:00, 850 d-1 07:00. Expected d-1 12:00: blocked treatment_interrupted, daily,
    no emergency."""
    p = c.established()
    c.anc(p, c.at(-2, "08:00"), 800)
    c.anc(p, c.at(-1, "07:00"), 850)
    d = c.elig(p, c.at(-1, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-1")
    c.check("daily", d["monitoring_frequency"] == "daily", summary(d))


@scenario("N54", "resume after severe: rechallenge and a normal ANC both needed", "§5, §6")
def n54(c: Ctx) -> None:
    """Severe 300 d-10, 320 d-9; 1200 d-5. Resume d-5 refused (rechallenge_not_authorized and
    anc_below_threshold); rechallenge d-5: still refused (anc_below_threshold)."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 300)
    c.anc(p, c.at(-9, "07:00"), 320)
    c.anc(p, c.at(-5), 1200)
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check(
        "refused without rechallenge",
        s == 422 and "rechallenge_not_authorized" in codes(r),
        (s, r),
        UNSAFE,
    )
    c.auth(p, "rechallenge", c.day(-5), c.day(20))
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check("refused at 1200", s == 422 and "anc_below_threshold" in codes(r), (s, r), UNSAFE)


@scenario("N55", "resume after moderate at 1100, then a new moderate interrupts again", "§5")
def n55(c: Ctx) -> None:
    """800 d-10, 850 d-9, 1100 d-7, resume d-7: allowed 7, three times weekly. 800 d-6:
    blocked."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 800)
    c.anc(p, c.at(-9, "07:00"), 850)
    c.anc(p, c.at(-7), 1100)
    c.event(p, "resume", c.day(-7))
    d = c.elig(p, c.at(-7, "12:00"))
    allowed(c, d, 7, "d-7")
    c.check(
        "three times weekly", d["monitoring_frequency"] == "three_times_weekly", summary(d), UNSAFE
    )
    c.anc(p, c.at(-6), 800)
    blocked(c, c.elig(p, c.at(-6, "12:00")), {"treatment_interrupted"}, "d-6")


@scenario("N56", "a resume dated before the low result is refused", "§5")
def n56(c: Ctx) -> None:
    """800 d-10, 850 d-9; resume d-11: 409."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 800)
    c.anc(p, c.at(-9, "07:00"), 850)
    s, r = c.event(p, "resume", c.day(-11), expect=None)
    c.check("refused (409)", s == 409, (s, r), UNSAFE)


@scenario("N57", "a start on a mild latest ANC is refused", "§1 (mild: continue, not start)")
def n57(c: Ctx) -> None:
    """ANC 2000 d-10, enroll d-10, ANC 1300 d-5; start d-5: 422 anc_below_threshold."""
    p = c.patient()
    c.anc(p, c.at(-10), 2000)
    c.enroll(p, c.day(-10))
    c.anc(p, c.at(-5), 1300)
    s, r = c.event(p, "start", c.day(-5), expect=None)
    c.check("refused", s == 422 and "anc_below_threshold" in codes(r), (s, r), UNSAFE)


@scenario("N58", "a draw before the date of birth is refused", "§8")
def n58(c: Ctx) -> None:
    p = c.patient()
    s, r = c.result(p, "1980-01-01T09:00:00-05:00", 2500, expect=None)
    c.check("refused (400)", s == 400, (s, r), FIELD)


@scenario("N59", "monthly window: 31 days current, 32 not", "§3")
def n59(c: Ctx) -> None:
    """ANC d-40 09:00: d-9 allowed 28; d-8 blocked anc_not_current."""
    p = c.established()
    c.anc(p, c.at(-40), 2500)
    allowed(c, c.elig(p, c.at(-9, "12:00")), 28, "31 days")
    blocked(c, c.elig(p, c.at(-8, "12:00")), {"anc_not_current"}, "32 days")


@scenario("N60", "every 2 weeks: 15-day window, 14-day supply", "§2, §3")
def n60(c: Ctx) -> None:
    """Started d-200 (between 6 and 12 months); ANC d-15. Now: allowed, max 14; 28 requested:
    blocked days_supply_exceeds_limit with max 14. ANC d-16 for another: blocked."""
    p = c.established(200)
    c.anc(p, c.at(-15), 2500)
    d = c.elig(p, days=28)
    c.check("every_2_weeks", d["monitoring_frequency"] == "every_2_weeks", summary(d))
    c.check(
        "28 requested: blocked, max 14",
        codes(d) == {"days_supply_exceeds_limit"} and d["max_days_supply"] == 14,
        summary(d),
        UNSAFE,
    )
    q = c.established(200)
    c.anc(q, c.at(-16), 2500)
    blocked(c, c.elig(q), {"anc_not_current"}, "16 days")


@scenario("N61", "the clock counts calendar months from the start", "§2")
def n61(c: Ctx) -> None:
    """Start on S such that S + 6 calendar months = d-3. d-4: weekly (7); d-3: every 2 weeks."""
    from dateutil.relativedelta import relativedelta

    six = c.today + dt.timedelta(days=-3)
    start = six - relativedelta(months=6)
    n = (start - c.today).days
    p = c.established(-n)
    c.anc(p, c.at(-5), 2500)
    a, b = c.elig(p, c.at(-4, "12:00")), c.elig(p, c.at(-3, "12:00"))
    c.check(
        "day before 6 months: weekly", a["monitoring_frequency"] == "weekly", summary(a), UNSAFE
    )
    c.check(
        "6 months: every 2 weeks", b["monitoring_frequency"] == "every_2_weeks", summary(b), BLOCK
    )


@scenario("N62", "an interruption of 20 days keeps the monthly clock", "§2")
def n62(c: Ctx) -> None:
    """Monthly: interrupt d-25, ANC d-6, resume d-5. d-4: allowed 28, monthly."""
    p = c.established()
    c.event(p, "interrupt", c.day(-25))
    c.anc(p, c.at(-6), 2500)
    c.event(p, "resume", c.day(-5))
    d = c.elig(p, c.at(-4, "12:00"))
    allowed(c, d, 28, "d-4")


@scenario(
    "N63", "weekly for 4 weeks after a moderate episode (28 days, inclusive)", "§3, us reading 10"
)
def n63(c: Ctx) -> None:
    """800 d-40, 850 d-39, 1600 d-35 (closes), resume d-35. d-34: weekly, 7; ANC d-8; d-7 (day
    28): weekly; d-6: monthly."""
    p = c.established()
    c.anc(p, c.at(-40, "08:00"), 800)
    c.anc(p, c.at(-39, "07:00"), 850)
    c.anc(p, c.at(-35), 1600)
    c.event(p, "resume", c.day(-35))
    d = c.elig(p, c.at(-34, "12:00"))
    c.check(
        "d-34: weekly, 7",
        (d["monitoring_frequency"], d["max_days_supply"]) == ("weekly", 7),
        summary(d),
        UNSAFE,
    )
    c.anc(p, c.at(-8), 2500)
    c.check(
        "day 28: weekly",
        c.elig(p, c.at(-7, "12:00"))["monitoring_frequency"] == "weekly",
        None,
        UNSAFE,
    )
    c.check(
        "day 29: monthly",
        c.elig(p, c.at(-6, "12:00"))["monitoring_frequency"] == "monthly",
        None,
        BLOCK,
    )


@scenario("N64", "a mild episode recovered: back to the routine interval, no weekly step", "§1")
def n64(c: Ctx) -> None:
    """1200 d-10, 1300 d-9, 1600 d-8. d-7: monthly, 28."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 1200)
    c.anc(p, c.at(-9, "07:00"), 1300)
    c.anc(p, c.at(-8), 1600)
    allowed(c, c.elig(p, c.at(-7, "12:00")), 28, "d-7")


@scenario("N65", "a late severe result drawn before an allowed dispense", "§9.1, §9.3")
def n65(c: Ctx) -> None:
    """Monthly: ANC d-9, 28 days d-8 10:00; then severe 350 drawn d-8 08:00 filed. Expected now:
    blocked (treatment_interrupted, rechallenge_not_authorized)."""
    p = c.established()
    c.anc(p, c.at(-9), 2500)
    c.dispense_import(p, c.at(-8, "10:00"), 28)
    c.anc(p, c.at(-8, "08:00"), 350)
    blocked(c, c.elig(p), {"treatment_interrupted", "rechallenge_not_authorized"}, "now")


@scenario(
    "N66",
    "a low result of the resume day filed after the resume keeps the patient interrupted",
    "docs/rules.md 'How the engine reads a history' (events judged against every result of "
    "their day)",
)
def n66(c: Ctx) -> None:
    """800 d-10, 850 d-9, 1200 d-6 08:00, resume d-6; then 700 drawn d-6 15:00 filed. Expected
    d-6 18:00 and d-5: blocked."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 800)
    c.anc(p, c.at(-9, "07:00"), 850)
    c.anc(p, c.at(-6, "08:00"), 1200)
    c.event(p, "resume", c.day(-6))
    c.anc(p, c.at(-6, "15:00"), 700)
    blocked(c, c.elig(p, c.at(-6, "18:00")), {"treatment_interrupted"}, "d-6 18:00")
    d = c.elig(p, c.at(-5, "12:00"))
    blocked(c, d, {"treatment_interrupted"}, "d-5")
    c.check("review_needed names the resume", bool(d.get("review_needed")), summary(d))


@scenario("N67", "windows count local dates (a 23:30 draw)", "§3: local calendar dates")
def n67(c: Ctx) -> None:
    """Weekly: ANC drawn d-8 23:30 local (next day in UTC). d-1 12:00: allowed (7 days);
    now: blocked anc_not_current."""
    p = c.established(60)
    c.anc(p, c.at(-8, "23:30"), 2500)
    allowed(c, c.elig(p, c.at(-1, "12:00")), 7, "d-1")
    blocked(c, c.elig(p), {"anc_not_current"}, "now (8 local days)")


@scenario(
    "N68",
    "confirmation_due names the 24-hour deadline",
    "docs/api.md (confirmation_due is the deadline)",
)
def n68(c: Ctx) -> None:
    """Mild 1200 drawn 2 h ago. Expected: confirmation_due is the instant drawn + 24 h (with a
    time), not a bare date."""
    p = c.established()
    c.anc(p, c.in_minutes(-120), 1200)
    d = c.elig(p)
    due = d.get("confirmation_due") or ""
    c.check("confirmation_due carries the time of the deadline", "T" in due, due, FIELD)


@scenario("N69", "a decision before the enrollment date", "§7")
def n69(c: Ctx) -> None:
    """ANC d-10, enroll d-5: decision as of d-7 blocked patient_not_enrolled."""
    p = c.patient()
    c.anc(p, c.at(-10), 2500)
    c.enroll(p, c.day(-5))
    blocked(c, c.elig(p, c.at(-7, "12:00")), {"patient_not_enrolled"}, "d-7")


@scenario("N70", "no dispense while the prescriber's interruption stands", "§5, §7")
def n70(c: Ctx) -> None:
    """ANC d-3, interrupt d-2: a dispense at d-1 refused (422)."""
    p = c.established()
    c.anc(p, c.at(-3), 2500)
    c.event(p, "interrupt", c.day(-2))
    s, r = c.dispense_import(p, c.at(-1, "10:00"), 7, expect=None)
    c.check("refused (422)", s == 422, (s, r), UNSAFE)


@scenario("N71", "uk-cpms step-down is offered, not applied, until confirmed", "uk reading 8")
def n71(c: Ctx) -> None:
    """uk-cpms started d-130 (week 18 passed); FBC d-2. Now: weekly, max 7, every_2_weeks
    offered; after confirming: every_2_weeks, max 14."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-130), "6.0", "3.0")
    c.enroll(p, c.day(-130))
    c.event(p, "start", c.day(-130))
    c.fbc(p, c.at(-2), "6.0", "3.0")
    d = c.elig(p)
    c.check(
        "weekly, 7, step-down offered",
        (d["monitoring_frequency"], d["max_days_supply"], d.get("step_down_offered"))
        == ("weekly", 7, "every_2_weeks"),
        summary(d),
        UNSAFE,
    )
    s, r = c.pres.call("POST", f"/api/v1/patients/{p}/step-down/", {"frequency": "every_2_weeks"})
    c.need(s, r, 201, "step-down")
    d = c.elig(p)
    c.check(
        "every 2 weeks, 14",
        (d["monitoring_frequency"], d["max_days_supply"]) == ("every_2_weeks", 14),
        summary(d),
        BLOCK,
    )


@scenario("N72", "uk-cpms amber: continue, twice weekly, 7 days", "uk-cpms table")
def n72(c: Ctx) -> None:
    """uk-cpms: amber FBC (WBC 3.2, neutrophils 1.8) d-1. Expected now: allowed 7, amber,
    twice_weekly, active."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-300), "6.0", "3.0")
    c.enroll(p, c.day(-300))
    c.event(p, "start", c.day(-300))
    c.fbc(p, c.at(-1), "3.2", "1.8")
    d = c.elig(p)
    allowed(c, d, 7, "now")
    c.check(
        "amber, twice weekly",
        (d["band"], d["monitoring_frequency"]) == ("amber", "twice_weekly"),
        summary(d),
    )


@scenario(
    "N73",
    "continuation written after a worse result of its episode was on record covers it",
    "§9.5, R1",
)
def n73(c: Ctx) -> None:
    """800 d-10, 400 d-9 (severe, on record), continuation d-9..d+10 (recorded now: takes hold
    at the end of d-9, R8). Expected d-8 12:00: allowed 7 (the prescriber saw the severe value)."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 800)
    c.anc(p, c.at(-9, "07:00"), 400)
    c.auth(p, "continuation", c.day(-9), c.day(10))
    allowed(c, c.elig(p, c.at(-8, "12:00")), 7, "d-8")


@scenario(
    "N74",
    "a late severe value of the same episode, drawn before the continuation, filed after it",
    "R1: an authorization answers what was on record when it was written",
)
def n74(c: Ctx) -> None:
    """800 d-10 08:00, continuation d-10..d+10, then 400 drawn d-10 20:00 filed. Expected d-9:
    blocked (not covered)."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 800)
    c.auth(p, "continuation", c.day(-10), c.day(10))
    c.anc(p, c.at(-10, "20:00"), 400)
    blocked(c, c.elig(p, c.at(-9, "12:00")), {"treatment_interrupted"}, "d-9")


@scenario(
    "N75", "severe unconfirmed then a real severe within the rechallenge's dates", "§9.4, §9.5"
)
def n75(c: Ctx) -> None:
    """Severe 400 d-20 08:00, normal 2200 d-19 06:00 (unconfirmed); resume d-19 (no
    rechallenge). Severe 300 d-10, 320 d-9 (confirmed). 1600 d-5: resume d-5 refused
    (rechallenge_not_authorized)."""
    p = c.established()
    c.anc(p, c.at(-20, "08:00"), 400)
    c.anc(p, c.at(-19, "06:00"), 2200)
    c.event(p, "resume", c.day(-19))
    c.anc(p, c.at(-10, "08:00"), 300)
    c.anc(p, c.at(-9, "07:00"), 320)
    c.anc(p, c.at(-5), 1600)
    s, r = c.event(p, "resume", c.day(-5), expect=None)
    c.check("refused", s == 422 and "rechallenge_not_authorized" in codes(r), (s, r), UNSAFE)


@scenario(
    "N76",
    "severe confirmed, recovered, rechallenge recorded but no resume yet",
    "§5, us reading 8: a rechallenge alone does not lift the interruption",
)
def n76(c: Ctx) -> None:
    """300 d-10, 320 d-9, 1700 d-4, rechallenge d-4..d+20 (no resume). Expected d-3: blocked
    treatment_interrupted."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 300)
    c.anc(p, c.at(-9, "07:00"), 320)
    c.anc(p, c.at(-4), 1700)
    c.auth(p, "rechallenge", c.day(-4), c.day(20))
    blocked(c, c.elig(p, c.at(-3, "12:00")), {"treatment_interrupted"}, "d-3")


@scenario(
    "N77",
    "a continuation for a severe episode while waiting: daily, 7 days, then recovery",
    "§6, §9.5",
)
def n77(c: Ctx) -> None:
    """300 d-10, 320 d-9, continuation d-9..d+15; 700 d-8: allowed 7 (daily). 1600 d-3 (episode
    closed, no rechallenge, no resume): d-3 12:00 — the continuation still answers the standing
    interruption; the patient has recovered from severe and was never rechallenged.
    Expected per §3/§5: no supply without a rechallenge (blocked rechallenge_not_authorized)."""
    p = c.established()
    c.anc(p, c.at(-10, "08:00"), 300)
    c.anc(p, c.at(-9, "07:00"), 320)
    c.auth(p, "continuation", c.day(-9), c.day(15))
    c.anc(p, c.at(-8), 700)
    allowed(c, c.elig(p, c.at(-8, "12:00")), 7, "d-8 (continuation)")
    c.anc(p, c.at(-3), 1600)
    d = c.elig(p, c.at(-3, "12:00"))
    c.check(
        "d-3 recovered from severe: no supply without a rechallenge",
        d["decision"] == "blocked",
        summary(d),
        UNSAFE,
    )


@scenario(
    "N78",
    "a lapse after severe neutropenia does not erase the rechallenge rule",
    "§9.11 (patient facts), §1 severe row, §4",
)
def n78(c: Ctx) -> None:
    """Monthly: severe 300 d-70, 320 d-69 (confirmed), 1700 d-60; never resumed, so the
    interruption from d-70 lapses on d-40. ANC 2200 d-3, re-enroll d-3 (accepted). Expected: a
    start d-3 is refused (422 rechallenge_not_authorized)."""
    p = c.established()
    c.anc(p, c.at(-70, "08:00"), 300)
    c.anc(p, c.at(-69, "07:00"), 320)
    c.anc(p, c.at(-60), 1700)
    c.anc(p, c.at(-3), 2200)
    c.enroll(p, c.day(-3))
    s, r = c.event(p, "start", c.day(-3), expect=None)
    c.check(
        "start refused: rechallenge needed",
        s == 422 and "rechallenge_not_authorized" in codes(r),
        (s, r),
        UNSAFE,
    )


@scenario("N79", "voiding the normal repeat re-opens the moderate episode", "§8 (void), §1")
def n79(c: Ctx) -> None:
    """Monthly: 800 d-6 08:00, 2000 d-5 07:00 (unconfirmed: allowed). The prescriber voids the
    2000 (wrong patient's tube). Expected: blocked treatment_interrupted from then on."""
    p = c.established()
    c.anc(p, c.at(-6, "08:00"), 800)
    r = c.anc(p, c.at(-5, "07:00"), 2000)
    allowed(c, c.elig(p, c.at(-5, "12:00")), 28, "before the void")
    s, v = c.pres.call(
        "POST", f"/api/v1/patients/{p}/anc-results/{r['id']}/void/", {"reason": "wrong patient"}
    )
    c.need(s, v, 200, "void")
    blocked(c, c.elig(p, c.at(-5, "12:00")), {"treatment_interrupted"}, "after the void")


@scenario("N80", "an expired rechallenge authorization cannot be used", "§9.5")
def n80(c: Ctx) -> None:
    """Severe 300 d-45, 320 d-44; 1700 d-40; rechallenge d-40..d-20 (unused); resume d-10: 422."""
    p = c.established()
    c.anc(p, c.at(-45, "08:00"), 300)
    c.anc(p, c.at(-44, "07:00"), 320)
    c.anc(p, c.at(-40), 1700)
    c.auth(p, "rechallenge", c.day(-40), c.day(-20))
    c.anc(p, c.at(-11), 1800)
    s, r = c.event(p, "resume", c.day(-10), expect=None)
    c.check("resume with an expired rechallenge refused", s in (409, 422), (s, r), UNSAFE)


@scenario(
    "N81",
    "review acknowledgement clears exactly what was shown; a new conflict raises it again",
    "R13, §9.1",
)
def n81(c: Ctx) -> None:
    """Start d-10 with a late moderate of d-11 (review_needed). Acknowledge: cleared. ANC 1600
    d-8, resume d-8; a late 700 drawn d-8 15:00 is filed: review_needed again."""
    p = c.patient()
    c.anc(p, c.at(-20), 2000)
    c.enroll(p, c.day(-20))
    c.event(p, "start", c.day(-10))
    c.anc(p, c.at(-11), 800)
    c.check("review_needed after the late result", bool(c.elig(p).get("review_needed")), None)
    s, r = c.pres.call("POST", f"/api/v1/patients/{p}/review-acknowledgement/", {"note": "seen"})
    c.need(s, r, 201, "review acknowledgement")
    c.check("cleared", not c.elig(p).get("review_needed"), None)
    c.anc(p, c.at(-8, "08:00"), 1600)
    c.event(p, "resume", c.day(-8))
    c.anc(p, c.at(-8, "15:00"), 700)
    d = c.elig(p)
    c.check("raised again by the new conflict", bool(d.get("review_needed")), summary(d))


@scenario(
    "N82",
    "low, normal, low within 24 hours: the second low confirms the episode",
    "§1: a later low result within the same 24 h confirms the episode",
)
def n82(c: Ctx) -> None:
    """Monthly: 800 d-6 08:00, 1900 d-6 14:00, 750 d-6 22:00 (14 h after the first), 1900 d-5
    10:00. Expected d-5 12:00: moderate confirmed, interrupted until a resume (blocked)."""
    p = c.established()
    c.anc(p, c.at(-6, "08:00"), 800)
    c.anc(p, c.at(-6, "14:00"), 1900)
    c.anc(p, c.at(-6, "22:00"), 750)
    c.anc(p, c.at(-5, "10:00"), 1900)
    blocked(c, c.elig(p, c.at(-5, "12:00")), {"treatment_interrupted"}, "d-5")


@scenario("N83", "severe, normal, severe within 24 hours: rechallenge needed", "§1, §9.4, §9.5")
def n83(c: Ctx) -> None:
    """Monthly: 400 d-6 08:00, 2000 d-6 14:00, 450 d-6 22:00, 2100 d-5 09:00, 1600 d-4. Two
    severe values 14 h apart. Expected: a resume d-4 without rechallenge refused (422
    rechallenge_not_authorized)."""
    p = c.established()
    c.anc(p, c.at(-6, "08:00"), 400)
    c.anc(p, c.at(-6, "14:00"), 2000)
    c.anc(p, c.at(-6, "22:00"), 450)
    c.anc(p, c.at(-5, "09:00"), 2100)
    c.anc(p, c.at(-4), 1600)
    s, r = c.event(p, "resume", c.day(-4), expect=None)
    c.check(
        "resume without rechallenge refused",
        s == 422 and "rechallenge_not_authorized" in codes(r),
        (s, r),
        UNSAFE,
    )
    if s == 201:
        blocked(c, c.elig(p, c.at(-3, "12:00")), {"rechallenge_not_authorized"}, "d-3")


@scenario(
    "N84",
    "a late mild result drawn before the enrollment makes it refusable: review",
    "docs/rules.md §9.1 (enrollment is a recorded act)",
)
def n84(c: Ctx) -> None:
    """ANC 2000 d-20, enroll d-10; a late 1200 drawn d-12 is filed. Expected: enrollment stands,
    review_needed raised; a start d-9 is refused (latest mild)."""
    p = c.patient()
    c.anc(p, c.at(-20), 2000)
    c.enroll(p, c.day(-10))
    c.anc(p, c.at(-12), 1200)
    d = c.elig(p)
    c.check("still enrolled", d["enrollment_status"] == "enrolled", summary(d))
    c.check("review_needed raised", bool(d.get("review_needed")), summary(d))
    s, r = c.event(p, "start", c.day(-9), expect=None)
    c.check("start refused", s == 422, (s, r), UNSAFE)


@scenario("N85", "a rechallenge used by a start after re-enrollment cannot be used again", "§9.5")
def n85(c: Ctx) -> None:
    """Severe 300 d-40, 320 d-39; discontinue d-38; ANC 2000 d-29; re-enroll d-28; rechallenge
    d-28..d-1; start d-28 (uses it). Severe 300 d-20, 320 d-19; discontinue d-18; ANC 2000 d-10;
    re-enroll d-10; start d-10 must be refused."""
    p = c.established()
    c.anc(p, c.at(-40, "08:00"), 300)
    c.anc(p, c.at(-39, "07:00"), 320)
    c.event(p, "discontinue", c.day(-38))
    c.anc(p, c.at(-29), 2000)
    c.enroll(p, c.day(-28))
    c.auth(p, "rechallenge", c.day(-28), c.day(-1))
    s, r = c.event(p, "start", c.day(-28), expect=None)
    c.check("first start with the rechallenge accepted", s == 201, (s, r), BLOCK)
    c.anc(p, c.at(-20, "08:00"), 300)
    c.anc(p, c.at(-19, "07:00"), 320)
    c.event(p, "discontinue", c.day(-18))
    c.anc(p, c.at(-10), 2000)
    c.enroll(p, c.day(-10))
    s, r = c.event(p, "start", c.day(-10), expect=None)
    c.check(
        "second start refused",
        s == 422 and "rechallenge_not_authorized" in codes(r),
        (s, r),
        UNSAFE,
    )


@scenario("N86", "us-label results before a switch to uk-cpms are not re-banded", "§9.11, R6")
def n86(c: Ctx) -> None:
    """us-label: mild 1200 d-50, 1600 d-48 (closed); discontinue d-30; FBC green d-5; re-enroll
    under uk-cpms d-5; start d-5. Expected d-4: allowed 7, green, no rechallenge."""
    p = c.patient()
    c.anc(p, c.at(-100), 2500)
    c.enroll(p, c.day(-100))
    c.event(p, "start", c.day(-100))
    c.anc(p, c.at(-50, "08:00"), 1200)
    c.anc(p, c.at(-48), 1600)
    c.event(p, "discontinue", c.day(-30))
    c.fbc(p, c.at(-5), "6.0", "3.0")
    c.enroll(p, c.day(-5), protocol="uk-cpms")
    s, r = c.event(p, "start", c.day(-5), expect=None)
    c.check("start accepted", s == 201, (s, r), BLOCK)
    d = c.elig(p, c.at(-4, "12:00"))
    allowed(c, d, 7, "d-4")
    c.check(
        "green, no rechallenge",
        d["band"] == "green" and d.get("rechallenge_required") is False,
        summary(d),
    )


@scenario("N87", "switching to uk-cpms needs a complete set of its own", "§9.11")
def n87(c: Ctx) -> None:
    """us-label patient discontinued d-30 with an ANC 2500 d-5 only: re-enroll under uk-cpms
    refused."""
    p = c.established(100)
    c.event(p, "discontinue", c.day(-30))
    c.anc(p, c.at(-5), 2500)
    s, r = c.enroll(p, c.day(-5), protocol="uk-cpms", expect=None)
    c.check("refused", s == 422, (s, r), UNSAFE)


@scenario(
    "N88",
    "a rechallenge recorded under uk-cpms does not carry over to us-label",
    "§9.11: non-rechallengeable until a rechallenge authorization under the new protocol",
)
def n88(c: Ctx) -> None:
    """uk-cpms: green d-100 (start); red d-60; greens d-59, d-58; rechallenge (haematologist)
    d-58..d-30, never used; discontinue d-50; ANC 2500 d-45; re-enroll under us-label d-45.
    Expected: a start d-45 refused (422 rechallenge_not_authorized)."""
    p = c.patient(protocol="uk-cpms")
    c.fbc(p, c.at(-100), "6.0", "3.0")
    c.enroll(p, c.day(-100))
    c.event(p, "start", c.day(-100))
    c.fbc(p, c.at(-60), "2.5", "1.0")
    c.fbc(p, c.at(-59), "6.0", "3.0")
    c.fbc(p, c.at(-58), "6.0", "3.0")
    c.auth(p, "rechallenge", c.day(-58), c.day(-30))
    c.event(p, "discontinue", c.day(-50))
    c.anc(p, c.at(-45), 2500)
    c.enroll(p, c.day(-45), protocol="us-label-2015")
    s, r = c.event(p, "start", c.day(-45), expect=None)
    c.check("start refused (needs a us-label rechallenge)", s == 422, (s, r), UNSAFE)
    if s == 201:
        blocked(c, c.elig(p, c.at(-44, "12:00")), {"rechallenge_not_authorized"}, "d-44")


@scenario("N89", "an inactive prescriber is not certified", "§7")
def n89(c: Ctx) -> None:
    """Prescriber made inactive today: decisions blocked prescriber_not_certified."""
    pid, pres = c.w.new_prescriber("Dr Leaving")
    saved = c.pres
    c.pres = pres
    try:
        p = c.patient(prescriber_id=pid)
        c.anc(p, c.at(-60, "08:00"), 2600)
        c.enroll(p, c.day(-60))
        c.event(p, "start", c.day(-60))
        c.anc(p, c.at(-1), 2500)
    finally:
        c.pres = saved
    s, r = c.admin.call("PATCH", f"/api/v1/prescribers/{pid}/", {"active": False})
    c.need(s, r, 200, "deactivate")
    blocked(c, c.elig(p), {"prescriber_not_certified"}, "now")


@scenario(
    "N90",
    "continuation with no dispenses and no ANC for 45 days: a lapse",
    "§9.5: a continuation counts as on treatment only while it actually allows a supply",
)
def n90(c: Ctx) -> None:
    """Monthly, no supply recorded: 800 d-55, 850 d-54; continuation d-54..d-25; no ANC until
    1600 d-10 (the continuation could allow a supply only while the 850 was current, to d-52).
    Expected: interrupted since d-55 and not 'on treatment' after d-52, so lapsed by d-22: a
    resume d-10 refused, decision blocked patient_not_enrolled."""
    p = c.established()
    c.anc(p, c.at(-55, "08:00"), 800)
    c.anc(p, c.at(-54, "07:00"), 850)
    c.auth(p, "continuation", c.day(-54), c.day(-25))
    c.anc(p, c.at(-10, "09:00"), 1600)
    s, r = c.event(p, "resume", c.day(-10), expect=None)
    c.check("resume d-10 refused (lapsed)", s in (409, 422), (s, r), UNSAFE)
    blocked(c, c.elig(p, c.at(-10, "12:00")), {"patient_not_enrolled"}, "d-10")


@scenario(
    "N91",
    "a dispense refused for a lapse goes through once the inpatient stay is recorded",
    "§9.14, §4",
)
def n91(c: Ctx) -> None:
    """ANC d-62, 28 days d-61 (to d-33: lapse d-3); ANC d-3. A 28-day import at d-2 is refused
    (patient_not_enrolled); once supplied-elsewhere d-33..d-5 is recorded it is accepted."""
    p = c.established()
    c.anc(p, c.at(-62, "08:00"), 2500)
    c.dispense_import(p, c.at(-61, "10:00"), 28)
    c.anc(p, c.at(-3), 2500)
    s, r = c.dispense_import(p, c.at(-2, "10:00"), 28, expect=None)
    c.check("refused while lapsed", s == 422 and "patient_not_enrolled" in codes(r), (s, r), UNSAFE)
    c.elsewhere(p, c.day(-33), c.day(-5))
    s, r = c.dispense_import(p, c.at(-2, "10:00"), 28, expect=None)
    c.check("accepted once the stay is recorded", s == 201, (s, r), BLOCK)


@scenario(
    "N92",
    "a continuation back-dated into a lapse must not undo it",
    "§9.5 (on treatment only while it actually allows a supply), §4",
)
def n92(c: Ctx) -> None:
    """Monthly, no supply recorded: 800 d-40, 850 d-39 (interrupted by neutropenia since d-40;
    lapse d-10). Now the prescriber records a continuation d-35..d-6 (no ANC was current in that
    period, so it never allowed a supply). 1600 d-2; resume d-2. Expected: still lapsed since d-10:
    the resume refused and the decision blocked patient_not_enrolled."""
    p = c.established()
    c.anc(p, c.at(-40, "08:00"), 800)
    c.anc(p, c.at(-39, "07:00"), 850)
    d = c.elig(p)
    c.check(
        "lapsed before the continuation",
        d["enrollment_status"] == "reenrollment_required",
        summary(d),
        UNSAFE,
    )
    c.auth(p, "continuation", c.day(-35), c.day(-6), expect=None)
    c.anc(p, c.at(-2), 1600)
    s, r = c.event(p, "resume", c.day(-2), expect=None)
    c.check("resume refused (lapsed d-10)", s in (409, 422), (s, r), UNSAFE)
    blocked(c, c.elig(p, c.at(-2, "12:00")), {"patient_not_enrolled"}, "d-2")


@scenario("N93", "live: a continuation recorded today lets a 7-day supply out at once", "§6, R8")
def n93(c: Ctx) -> None:
    """Monthly: 800 drawn 26 h ago, 850 drawn 3 h ago; continuation from today (+20 days).
    Expected: allowed 7 now; a 7-day dispense now recorded (201); a second one refused."""
    p = c.established()
    c.anc(p, c.in_minutes(-26 * 60), 800)
    c.anc(p, c.in_minutes(-180), 850)
    blocked(c, c.elig(p), {"treatment_interrupted"}, "before the continuation")
    c.auth(p, "continuation", c.day(0), c.day(20))
    allowed(c, c.elig(p), 7, "now")
    s, r = c.dispense_now(p, 7)
    c.check("dispense recorded", s == 201, (s, r), BLOCK)
    s, r = c.dispense_now(p, 1)
    c.check("a second supply the same day refused", s == 422, (s, r), UNSAFE)


@scenario("N94", "an inpatient stay does not pause a neutropenia interruption's lapse", "§4, §9.14")
def n94(c: Ctx) -> None:
    """Monthly: 800 d-40, 850 d-39 (interrupted d-40); supplied elsewhere d-40..d-5 (the stay
    supplies nothing while treatment is interrupted). Expected: re-enrollment required from d-10."""
    p = c.established()
    c.anc(p, c.at(-40, "08:00"), 800)
    c.anc(p, c.at(-39, "07:00"), 850)
    c.elsewhere(p, c.day(-40), c.day(-5))
    d = c.elig(p, c.at(-9, "12:00"))
    c.check(
        "d-9: re-enrollment required",
        d["enrollment_status"] == "reenrollment_required",
        summary(d),
        UNSAFE,
    )


# =============================================================================================


def run(selected: list[str] | None, as_json: str | None) -> int:
    world = World()
    outcomes: list[tuple[Scenario, Outcome]] = []
    for sc in SCENARIOS:
        if selected and not any(sc.sid.startswith(k) for k in selected):
            continue
        out = Outcome(sc.sid, sc.title, sc.rule, sc.fn.__doc__ or "")
        world.current = Trace()
        ctx = Ctx(world, out)
        try:
            sc.fn(ctx)
        except Failure as error:
            out.error = str(error)
        except Exception:  # noqa: BLE001 - a crashed scenario is reported, not fatal
            out.error = traceback.format_exc(limit=3)
        out.trace = world.current.lines
        outcomes.append((sc, out))
        mark = "ok  " if out.ok else ("PEND" if sc.pending else "FAIL")
        print(
            f"{mark} {sc.sid} {sc.title}"
            + (f"  [issue-14 item {sc.pending}, other branch]" if sc.pending else "")
        )
        if not out.ok:
            if out.error:
                print("     error:", out.error.strip().replace("\n", "\n     "))
            for chk in out.checks:
                if not chk.ok:
                    print(
                        f"     WRONG ({chk.kind}): {chk.text}\n        got: "
                        + json.dumps(chk.actual, default=str)[:900]
                    )
            print("     trace:")
            for line in out.trace:
                print("       ", line[:400])
    failed = [(s, o) for s, o in outcomes if not o.ok and not s.pending]
    pending = [(s, o) for s, o in outcomes if not o.ok and s.pending]
    print(
        f"\n{len(outcomes)} scenarios, {sum(len(o.checks) for _, o in outcomes)} checks; "
        f"{len(failed)} failing, {len(pending)} pending (other branches)"
    )
    if as_json:
        with open(as_json, "w") as fh:
            json.dump(
                [
                    {
                        "sid": s.sid,
                        "title": s.title,
                        "rule": s.rule,
                        "pending": s.pending,
                        "ok": o.ok,
                        "error": o.error,
                        "doc": o.note,
                        "checks": [vars(ch) for ch in o.checks],
                        "trace": o.trace,
                    }
                    for s, o in outcomes
                ],
                fh,
                indent=1,
                default=str,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-k", nargs="*", help="scenario id prefixes to run")
    parser.add_argument("--json", help="write the outcomes to this file")
    args = parser.parse_args()
    sys.exit(run(args.k, args.json))
