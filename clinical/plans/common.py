"""The checks every protocol's plan shares, and what their answers mean. Pure: no ORM, no clock.

Sources: seed 001 (baseline investigations, monitoring schedule, side effects); the Ronaldson
myocarditis protocol (baseline troponin and CRP, then weekly for 4 weeks; troponin > 2 × the
upper limit or CRP > 100 mg/L: stop and review; smaller rises: daily tests); Maudsley guidance
(vital signs through titration, laxatives, QTc, pregnancy). Each message is in clinical.messages.

Readings taken where the sources leave room, each the safer one for the patient:

- Baseline checks are due on the start day; one done up to 30 days before it counts.
- "3 months" is 13 weeks (day 91); "quarterly" every 13 weeks; "annually" every 365 days from the
  start.
- Vital signs (temperature, blood pressure lying and standing, pulse): daily through the first
  two weeks of titration (days 0-14), weekly to week 4, then quarterly from week 12 with the
  weight.
- Bowel habit "at every contact": at the ANC contacts seed 001 schedules - weekly for 26 weeks,
  fortnightly to a year, then every 4 weeks. No bowel movement for 3 days or more, or abdominal
  pain, distension or vomiting: urgent (seed 001 asks patients to report 2-3 days: the earlier
  of the two for "constipated", 3 for "urgent").
- Myocarditis: troponin and CRP at baseline and days 7, 14, 21, 28, and the symptom checklist
  weekly, both counted from the latest start or resume (the watch restarts with treatment).
  Troponin is compared with the laboratory's own upper limit, given with it. CRP above 50 up to
  100 mg/L is read as a "smaller rise" (daily tests).
- ECG at baseline and again at week 4 (end of titration), so a rise can be seen; QTc >= 500 ms or
  a rise of 60 ms or more from the first ECG is flagged.
- A clozapine level: a valid steady-state trough at week 4 (the target dose reached) and yearly;
  the levels' own prompts ask for more.
- Seizures (or myoclonic jerks): asked every 4 weeks. Eosinophils: with the first 4 weeks' blood
  counts; above 0.5 × 10⁹/L (the upper limit) is flagged. Pregnancy (female patients): at
  baseline and every 13 weeks.
- Fever 38.0 °C or more; resting pulse 120 per minute or more; systolic below 90 mmHg or a fall
  of 20 mmHg or more on standing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from clinical import messages as say
from clinical.plan import BASELINE_WINDOW_DAYS, Answer, Finding, PlanItem

TEMPERATURE_FEVER_C = Decimal("38.0")
PULSE_TACHYCARDIA = 120
SYSTOLIC_LOW = 90
ORTHOSTATIC_DROP = 20
BOWEL_CONSTIPATED_DAYS = 2
BOWEL_URGENT_DAYS = 3
TROPONIN_STOP_TIMES_ULN = Decimal(2)
CRP_STOP_MG_L = Decimal(100)
CRP_DAILY_MG_L = Decimal(50)
QTC_LONG_MS = 500
QTC_RISE_MS = 60
EOSINOPHILS_HIGH = Decimal("0.5")


def _finding(message: say.Message, severity: str, **values: Any) -> Finding:
    return Finding(message.code, severity, message.say(**values), message.source)


def assess_vitals(
    answers: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    found = []
    temperature = answers.get("temperature_c")
    if temperature is not None and Decimal(str(temperature)) >= TEMPERATURE_FEVER_C:
        found.append(_finding(say.FEVER, "urgent", temperature=temperature))
    pulse = answers.get("pulse_per_min")
    if pulse is not None and int(pulse) >= PULSE_TACHYCARDIA:
        found.append(_finding(say.TACHYCARDIA, "urgent", pulse=pulse))
    systolic = answers.get("systolic_mmhg")
    standing = answers.get("standing_systolic_mmhg")
    low = [s for s in (systolic, standing) if s is not None and int(s) < SYSTOLIC_LOW]
    if low:
        found.append(
            _finding(say.HYPOTENSION, "warning", finding=f"Systolic blood pressure {low[0]} mmHg")
        )
    elif systolic is not None and standing is not None and systolic - standing >= ORTHOSTATIC_DROP:
        found.append(
            _finding(
                say.HYPOTENSION,
                "warning",
                finding=f"Systolic blood pressure falls {systolic - standing} mmHg on standing",
            )
        )
    return found


def assess_bowel(answers: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]) -> list[Finding]:
    days = int(answers["days_since_bowel_movement"])
    pain = bool(answers.get("abdominal_pain"))
    reasons = []
    if days >= BOWEL_URGENT_DAYS:
        reasons.append(f"no bowel movement for {days} days")
    if pain:
        reasons.append("abdominal pain, distension or vomiting")
    if reasons:
        return [_finding(say.BOWEL_URGENT, "urgent", finding=" and ".join(reasons))]
    if days >= BOWEL_CONSTIPATED_DAYS:
        return [_finding(say.BOWEL_CONSTIPATED, "warning")]
    if answers.get("laxative") is False:
        return [_finding(say.BOWEL_NO_LAXATIVE, "info")]
    return []


def _urgent_if_symptoms(message: say.Message) -> Any:
    """A checklist item: any symptom ticked is urgent, with the item's message."""

    def assess(answers: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]) -> list[Finding]:
        return [_finding(message, "urgent")] if answers.get("symptoms") else []

    return assess


assess_myocarditis_watch = _urgent_if_symptoms(say.MYOCARDITIS_SYMPTOMS)


def assess_troponin_crp(
    answers: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    troponin = Decimal(str(answers["troponin_ng_l"]))
    uln = Decimal(str(answers["troponin_uln_ng_l"]))
    crp = Decimal(str(answers["crp_mg_l"]))
    stop = []
    if troponin > TROPONIN_STOP_TIMES_ULN * uln:
        stop.append(f"Troponin {troponin} ng/L, more than twice the upper limit ({uln})")
    if crp > CRP_STOP_MG_L:
        stop.append(f"CRP {crp} mg/L, above {CRP_STOP_MG_L} mg/L")
    if stop:
        return [_finding(say.MYOCARDITIS_STOP, "urgent", finding="; ".join(stop))]
    rise = []
    if troponin > uln:
        rise.append(f"Troponin {troponin} ng/L, above the upper limit ({uln})")
    if crp > CRP_DAILY_MG_L:
        rise.append(f"CRP {crp} mg/L, above {CRP_DAILY_MG_L} mg/L")
    if rise:
        return [_finding(say.MYOCARDITIS_DAILY, "urgent", finding="; ".join(rise))]
    return []


def assess_ecg(answers: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]) -> list[Finding]:
    qtc = int(answers["qtc_ms"])
    baseline = next((int(e["qtc_ms"]) for e in earlier if e.get("qtc_ms") is not None), None)
    reasons = []
    if qtc >= QTC_LONG_MS:
        reasons.append(f"QTc {qtc} ms ({QTC_LONG_MS} ms or more)")
    if baseline is not None and qtc - baseline >= QTC_RISE_MS:
        reasons.append(f"QTc {qtc} ms, {qtc - baseline} ms above the first ECG's {baseline} ms")
    if reasons:
        return [_finding(say.QTC_LONG, "urgent", finding="; ".join(reasons))]
    return []


assess_seizure = _urgent_if_symptoms(say.SEIZURE)


def assess_eosinophils(
    answers: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    value = Decimal(str(answers["eosinophils_10e9_l"]))
    if value > EOSINOPHILS_HIGH:
        return [_finding(say.EOSINOPHILIA, "warning", value=value)]
    return []


def assess_pregnancy(
    answers: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    if answers.get("pregnant"):
        return [_finding(say.PREGNANCY, "urgent")]
    return []


def _d(value: str) -> Decimal:
    return Decimal(value)


# Days 0-14 daily, then weekly to week 4 (Maudsley: through titration).
VITALS_DAYS = (*range(15), 21, 28)
# The ANC contacts of seed 001: weekly to week 26, fortnightly to a year, then every 4 weeks.
CONTACT_DAYS = (*range(0, 183, 7), *range(196, 365, 14))
MYOCARDITIS_DAYS = (0, 7, 14, 21, 28)

ECG = PlanItem(
    "ecg",
    "ECG",
    "Electrocardiogram with the QTc: at baseline and at the end of titration (week 4).",
    at_days=(0, 28),
    # The baseline's window is 30 days (clinical.plan); the week-4 ECG's is a week.
    window_days=7,
    grace_days=0,
    answers=(Answer("qtc_ms", "int", "QTc", low=_d("250"), high=_d("800"), unit="ms"),),
    assess=assess_ecg,
    source=say.SEED_PLAN + "; " + say.MAUDSLEY,
)
VITALS = PlanItem(
    "vitals",
    "Temperature, blood pressure and pulse",
    "Temperature, blood pressure (lying and standing) and pulse: daily through the first two "
    "weeks of titration, weekly to week 4, then quarterly.",
    at_days=VITALS_DAYS,
    repeat_every_days=91,
    repeat_from_day=84,
    window_days=0,
    grace_days=1,
    unit="°C / mmHg / bpm",
    anchor="latest_start",
    answers=(
        Answer("temperature_c", "decimal", "Temperature", low=_d("30"), high=_d("44"), unit="°C"),
        Answer("systolic_mmhg", "int", "Systolic", low=_d("40"), high=_d("300"), unit="mmHg"),
        Answer("diastolic_mmhg", "int", "Diastolic", low=_d("20"), high=_d("200"), unit="mmHg"),
        Answer(
            "standing_systolic_mmhg",
            "int",
            "Systolic standing",
            required=False,
            low=_d("40"),
            high=_d("300"),
            unit="mmHg",
        ),
        Answer("pulse_per_min", "int", "Pulse", low=_d("20"), high=_d("250"), unit="/min"),
    ),
    assess=assess_vitals,
    source=say.SEED_PLAN + " (Cardiovascular Monitoring); " + say.MAUDSLEY,
)
BOWEL = PlanItem(
    "bowel",
    "Bowel habit",
    "Ask at every contact: days since the last bowel movement, abdominal pain, distension or "
    "vomiting, and whether a laxative is taken.",
    at_days=CONTACT_DAYS,
    repeat_every_days=28,
    repeat_from_day=392,
    window_days=3,
    grace_days=2,
    answers=(
        Answer(
            "days_since_bowel_movement",
            "int",
            "Days since the last bowel movement",
            low=_d("0"),
            high=_d("60"),
            unit="days",
        ),
        Answer("abdominal_pain", "bool", "Abdominal pain, distension or vomiting"),
        Answer("laxative", "bool", "Taking a laxative", required=False),
    ),
    assess=assess_bowel,
    source=say.SEED_PLAN + " (Gastrointestinal Hypomotility); " + say.MAUDSLEY,
)
MYOCARDITIS_WATCH = PlanItem(
    "myocarditis_watch",
    "Myocarditis watch",
    "Ask about chest pain, tachycardia, palpitations, dyspnea, fever, flu-like symptoms; if any "
    "suggest myocarditis, order troponin and CRP (echocardiogram if abnormal).",
    at_days=(7, 14, 21, 28),
    window_days=3,
    grace_days=2,
    checklist=True,
    question="Were there symptoms suggesting myocarditis (chest pain, tachycardia, "
    "palpitations, dyspnea, fever, flu-like symptoms)?",
    # seed 001 "Myocarditis usually within first 4 weeks": chased until week 6 at most.
    missed_after_days=14,
    anchor="latest_start",
    assess=assess_myocarditis_watch,
    source=say.SEED_PLAN + " (Myocarditis and Cardiomyopathy); " + say.RONALDSON,
)
TROPONIN_CRP = PlanItem(
    "troponin_crp",
    "Troponin and CRP",
    "Troponin (with the laboratory's upper limit) and CRP: at baseline, then weekly for the "
    "first 4 weeks (Ronaldson).",
    at_days=MYOCARDITIS_DAYS,
    window_days=2,
    grace_days=2,
    missed_after_days=14,
    anchor="latest_start",
    answers=(
        Answer("troponin_ng_l", "decimal", "Troponin", low=_d("0"), high=_d("100000"), unit="ng/L"),
        Answer(
            "troponin_uln_ng_l",
            "decimal",
            "Troponin upper limit",
            low=_d("0.001"),
            high=_d("1000"),
            unit="ng/L",
        ),
        Answer("crp_mg_l", "decimal", "CRP", low=_d("0"), high=_d("1000"), unit="mg/L"),
    ),
    assess=assess_troponin_crp,
    source=say.RONALDSON + "; " + say.SEED_PLAN + " (Myocarditis screening)",
)
EOSINOPHILS = PlanItem(
    "eosinophils",
    "Eosinophil count",
    "Eosinophils with the blood count: at baseline and weekly for the first 4 weeks.",
    at_days=MYOCARDITIS_DAYS,
    window_days=2,
    grace_days=2,
    missed_after_days=14,
    anchor="latest_start",
    answers=(
        Answer(
            "eosinophils_10e9_l", "decimal", "Eosinophils", low=_d("0"), high=_d("50"), unit="10⁹/L"
        ),
    ),
    assess=assess_eosinophils,
    source=say.SEED_PLAN + " (Eosinophilia); " + say.RONALDSON,
)
WEIGHT = PlanItem(
    "weight",
    "Weight and BMI",
    "Weight and body-mass index.",
    at_days=(0, 28, 56, 84),
    repeat_every_days=91,
    repeat_from_day=175,
    window_days=7,
    grace_days=7,
    unit="kg",
)
GLUCOSE = PlanItem(
    "glucose",
    "Fasting glucose or HbA1c",
    "Fasting plasma glucose or HbA1c.",
    at_days=(0, 91),
    repeat_every_days=365,
    repeat_from_day=365,
    window_days=14,
    grace_days=14,
)
LIPIDS = PlanItem(
    "lipids",
    "Lipid panel",
    "Fasting lipid panel.",
    at_days=(0, 91),
    repeat_every_days=365,
    repeat_from_day=365,
    window_days=14,
    grace_days=14,
)
LIVER = PlanItem(
    "liver",
    "Liver tests",
    "AST, ALT, bilirubin.",
    at_days=(0,),
    repeat_every_days=365,
    repeat_from_day=365,
    window_days=BASELINE_WINDOW_DAYS,
    grace_days=14,
)
SYMPTOM_RATING = PlanItem(
    "symptom_rating",
    "Symptom rating (PANSS or BPRS)",
    "Target symptoms documented with PANSS or BPRS before starting.",
    at_days=(0,),
    window_days=BASELINE_WINDOW_DAYS,
    grace_days=0,
)
CLOZAPINE_LEVEL = PlanItem(
    "clozapine_level",
    "Clozapine level",
    "A trough clozapine level at steady state (12 ± 2 hours after the dose, dose stable 5 days): "
    "at week 4 and yearly; recorded as a level, not here.",
    at_days=(28,),
    repeat_every_days=365,
    repeat_from_day=365,
    window_days=7,
    grace_days=7,
    done_by_level=True,
    source=say.SEED_TRS + "; " + say.AGNP,
)
SEIZURE = PlanItem(
    "seizure",
    "Seizure check",
    "Ask about seizures and myoclonic jerks (the risk rises with dose and level).",
    at_days=(28,),
    repeat_every_days=28,
    repeat_from_day=56,
    window_days=3,
    grace_days=4,
    checklist=True,
    question="Were there seizures or myoclonic jerks?",
    assess=assess_seizure,
    source=say.SEED_PLAN + " (Seizures)",
)
PREGNANCY = PlanItem(
    "pregnancy",
    "Pregnancy check",
    "Ask about pregnancy (or plans for it) and contraception: at baseline and every 3 months.",
    at_days=(0,),
    repeat_every_days=91,
    repeat_from_day=91,
    window_days=BASELINE_WINDOW_DAYS,
    grace_days=14,
    answers=(Answer("pregnant", "bool", "Pregnant"),),
    assess=assess_pregnancy,
    sexes=frozenset({"female"}),
    source=say.SEED_PLAN + " (Clozapine in Pregnancy and Lactation); " + say.MAUDSLEY,
)

ITEMS: tuple[PlanItem, ...] = (
    ECG,
    VITALS,
    TROPONIN_CRP,
    MYOCARDITIS_WATCH,
    EOSINOPHILS,
    BOWEL,
    WEIGHT,
    GLUCOSE,
    LIPIDS,
    LIVER,
    SYMPTOM_RATING,
    CLOZAPINE_LEVEL,
    SEIZURE,
    PREGNANCY,
)
