"""Every clinical sentence the levels, the prompts and the monitoring plan show, written once.

Each message is a reviewed sentence (a template: `{name}` fields are filled with the patient's
values), with its source. docs/drug-levels.md lists them all as a table (situation -> text ->
source), and tests/clinical/test_messages.py holds the two together: a sentence changed here and
not there (or the other way) fails the suite.

Rules for writing one:

- Say what to do, in the order a clinician should do it; name the number that triggered it.
- Never suggest a dose increase where adherence is in doubt (an undetectable level, a recent gap
  in doses, a sample that is not a steady-state trough): only `below_response_threshold` says
  "consider raising the dose", and clinical.levels gives it only to a valid steady-state trough
  with no doubt about adherence (tests/clinical/test_no_dose_increase_when_adherence_doubtful.py).
- A level is never called "toxic" for its number alone: toxicity is a clinical finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEED_LEVELS = "seed 000 (SMI Adviser: interpreting clozapine and norclozapine levels)"
SEED_TRS = "seed 001 (TRS and clozapine management: therapeutic monitoring, clozapine resistance)"
SEED_PLAN = "seed 001 (TRS and clozapine management: baseline investigations, monitoring schedule)"
SEED_001 = "seed 001 (TRS and clozapine management)"
AGNP = "AGNP consensus guidelines for therapeutic drug monitoring (Hiemke et al., 2018 update)"
RONALDSON = "Ronaldson et al. 2011, clozapine-induced myocarditis monitoring protocol"
MAUDSLEY = "Maudsley Prescribing Guidelines in Psychiatry (clozapine chapter)"
LABEL = "clozapine label 2.5 (re-initiating treatment after 2 days or more)"


@dataclass(frozen=True)
class Message:
    code: str
    situation: str
    text: str
    source: str

    def say(self, **values: Any) -> str:
        return self.text.format(**values)


_ALL: list[Message] = []


def _m(code: str, situation: str, text: str, source: str) -> Message:
    message = Message(code, situation, text, source)
    _ALL.append(message)
    return message


# --- the timing of the draw -------------------------------------------------------------------

TROUGH_TIMING_UNKNOWN = _m(
    "trough_timing_unknown",
    "The time of the last dose before the draw is not recorded.",
    "The time of the last dose is not recorded, so this cannot be confirmed as a trough level "
    "(drawn 12 hours ± 2 hours after the last dose).",
    SEED_LEVELS + ", Timing of Clozapine Levels",
)
TROUGH_TOO_EARLY = _m(
    "trough_too_early",
    "Drawn less than 10 hours after the last dose.",
    "Drawn {hours} hours after the last dose: earlier than a trough (10 to 14 hours), so the "
    "level reads higher than the trough would.",
    SEED_LEVELS + ", Timing of Clozapine Levels",
)
TROUGH_TOO_LATE = _m(
    "trough_too_late",
    "Drawn more than 14 hours after the last dose.",
    "Drawn {hours} hours after the last dose: later than a trough (10 to 14 hours), so the "
    "level reads lower than the trough would.",
    SEED_LEVELS + ", Timing of Clozapine Levels",
)
TROUGH_VALID = _m(
    "trough_valid",
    "Drawn 10 to 14 hours after the last dose.",
    "Drawn {hours} hours after the last dose: within the trough window (12 ± 2 hours).",
    SEED_LEVELS + ", Timing of Clozapine Levels",
)

# --- steady state -----------------------------------------------------------------------------

STEADY_STATE_UNKNOWN = _m(
    "steady_state_unknown",
    "Whether the dose was stable before the draw is not recorded.",
    "Whether the dose was stable for the past 5 to 7 days is not recorded, so steady state is "
    "not confirmed.",
    SEED_LEVELS + ", Timing of Clozapine Levels; " + SEED_TRS,
)
STEADY_STATE_NOT_REACHED = _m(
    "steady_state_not_reached",
    "The dose had been stable for fewer than 5 days (a number of days given).",
    "The dose had been stable for {days} days; clozapine reaches steady state after 5 to 7 "
    "days, so this level may still rise or fall.",
    SEED_LEVELS + ", Timing of Clozapine Levels; " + SEED_TRS,
)
STEADY_STATE_DOSE_CHANGED = _m(
    "steady_state_dose_changed",
    'The dose was reported as not stable for the past 5 days (a "no" answer, no number).',
    "The dose changed within the past 5 days, so this level is not at steady state; repeat it "
    "as a trough 5 to 7 days after the last change.",
    SEED_LEVELS + ", Timing of Clozapine Levels; " + SEED_TRS,
)
STEADY_STATE = _m(
    "steady_state",
    "The dose had been stable for 5 days or more (a number of days given).",
    "The dose had been stable for {days} days (steady state after 5 to 7).",
    SEED_LEVELS + ", Timing of Clozapine Levels; " + SEED_TRS,
)
STEADY_STATE_REPORTED = _m(
    "steady_state_reported",
    'The dose was reported stable for the past 5 days (a "yes" answer, no number).',
    "The dose was reported unchanged for at least the past 5 days (steady state after 5 to 7).",
    SEED_LEVELS + ", Timing of Clozapine Levels; " + SEED_TRS,
)
STEADY_STATE_RECENT_CHANGE = _m(
    "steady_state_recent_change",
    "Smoking status or an interacting medication changed shortly before the draw: within 7 days "
    "(an inhibitor, or smoking starting) or 14 days (an inducer, or smoking stopping).",
    "{change} on {on}, {days} day(s) before this draw: clozapine levels take about a week to "
    "settle after an inhibitor starts or stops or smoking starts, and about two weeks after an "
    "inducer starts or stops or smoking stops, so this level is not at steady state and does not "
    "count towards the adequate trial. Repeat a trough level once that time has passed.",
    SEED_LEVELS + ", Timing of Clozapine Levels; " + MAUDSLEY,
)

# --- adherence --------------------------------------------------------------------------------

LEVEL_UNDETECTABLE = _m(
    "level_undetectable",
    "Clozapine below 50 ng/mL (undetectable or nearly so), whatever the dose.",
    "Clozapine {value} ng/mL is undetectable or nearly so{dose}. Suspect non-adherence or a "
    "laboratory or sample error first: ask about doses taken and repeat the level. If the patient "
    "has been 48 hours or more without clozapine, restarting needs re-titration from 12.5 mg once "
    "or twice daily. Do not increase the dose on this result.",
    SEED_LEVELS + ", Rationale for Clozapine Levels (adherence); " + LABEL + "; " + AGNP,
)
ADHERENCE_GAP = _m(
    "adherence_gap",
    "The dispenses or the reported last dose leave the patient without clozapine for more than "
    "14 hours in the 7 days before the draw.",
    "The records show {hours} hours without clozapine in the week before this draw: the level "
    "does not reflect the prescribed dose. Confirm adherence before any dose change.",
    SEED_LEVELS + ", Rationale for Clozapine Levels (adherence); " + SEED_TRS,
)
ADHERENCE_GAP_RETITRATION = _m(
    "adherence_gap_retitration",
    "As above, with 48 hours or more without clozapine.",
    "The records show {hours} hours without clozapine before this draw: 48 hours or more off "
    "clozapine needs re-titration from 12.5 mg once or twice daily, and the level does not reflect "
    "the prescribed dose. Confirm adherence before any dose change.",
    LABEL + "; " + SEED_TRS,
)

# --- the level itself -------------------------------------------------------------------------

BELOW_RESPONSE_THRESHOLD = _m(
    "below_response_threshold",
    "Below 350 ng/mL on a valid steady-state trough, adherence not in doubt.",
    "Clozapine {value} ng/mL is below the 350 ng/mL mean response threshold. If positive symptoms "
    "persist and adherence has been confirmed with the patient, consider raising the dose towards "
    "a level above 350 ng/mL (levels guide the dose; they do not set it).",
    SEED_LEVELS + ", Relationship between Clozapine Levels and Efficacy",
)
BELOW_RESPONSE_THRESHOLD_UNCONFIRMED = _m(
    "below_response_threshold_unconfirmed",
    "Below 350 ng/mL (and 50 or more) on a sample that is not a confirmed steady-state trough, or "
    "with adherence in doubt.",
    "Clozapine {value} ng/mL is below the 350 ng/mL mean response threshold, but this is not a "
    "confirmed steady-state trough with adherence known, so it cannot guide a dose change: "
    "confirm adherence and repeat the level as a trough at steady state.",
    SEED_LEVELS + ", Timing of Clozapine Levels; " + SEED_TRS + ", Verify Adequate Trial",
)
AT_OR_ABOVE_RESPONSE_THRESHOLD = _m(
    "at_or_above_response_threshold",
    "350 ng/mL or more.",
    "Clozapine {value} ng/mL is at or above the 350 ng/mL response threshold.",
    SEED_LEVELS + ", Relationship between Clozapine Levels and Efficacy",
)
UPPER_REFERENCE_RANGE = _m(
    "upper_reference_range",
    "600 to 999 ng/mL.",
    "Clozapine {value} ng/mL is above the usual reference range (350 to 600 ng/mL), in the band "
    "600 to 999 ng/mL where seizure risk rises. Review dose-related side effects (sedation, "
    "hypersalivation, constipation, myoclonic jerks); if this level is kept, consider "
    "anticonvulsant prophylaxis. This is not a toxic level in itself.",
    AGNP + "; " + SEED_001 + " (Seizures); " + MAUDSLEY,
)
HIGH_LEVEL = _m(
    "high_level",
    "1000 ng/mL or more.",
    "Clozapine {value} ng/mL is at or above 1000 ng/mL. Evaluate the patient now for "
    "dose-related side effects; if there is toxicity, urgent care (arrhythmia, seizure, "
    "infection). Without toxicity consider a lab error, a non-trough draw, a change in "
    "medication or smoking; consider a recheck.",
    SEED_LEVELS + ", High Clozapine Levels (>1000 ng/ml); " + AGNP + " (alert level 1000 ng/mL)",
)
LEVEL_CHANGED_SAME_DOSE = _m(
    "level_changed_same_dose",
    "The level changed by 30 % or more from the previous one at the same daily dose.",
    "Clozapine level changed {change} from {previous} ng/mL at the same daily dose ({dose} mg): "
    "beyond the usual ±30 % within-patient variation. Consider adherence, smoking, interacting "
    "medication, infection, or the timing of the draw.",
    SEED_LEVELS + ", Relationship between Clozapine Levels and Efficacy",
)

# --- the metabolic ratio ----------------------------------------------------------------------

RATIO_NOT_AVAILABLE = _m(
    "ratio_not_available",
    "No norclozapine level.",
    "No norclozapine level, so no metabolic ratio.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
RATIO_NOT_TROUGH = _m(
    "ratio_not_trough",
    "A ratio on a sample that is not a confirmed trough (10 to 14 hours after the dose).",
    "Metabolic ratio {ratio} not interpreted: the ratio bands apply to trough samples only, "
    "and this one is not a confirmed trough.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio (trough values)",
)
RATIO_INDUCTION_SMOKER = _m(
    "ratio_induction",
    "Ratio 1.00 or less on a trough, the patient recorded as a smoker.",
    "Metabolic ratio {ratio} (1.00 or less): consistent with the recorded smoking (smoking induces "
    "CYP1A2); partial non-adherence can lower the ratio too.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
RATIO_INDUCTION = _m(
    "ratio_induction",
    "Ratio 1.00 or less on a trough, the patient not recorded as a smoker.",
    "Metabolic ratio {ratio} (1.00 or less): suggests an inducer (smoking, phenytoin, "
    "carbamazepine), CYP1A2 ultrarapid metabolism, or partial non-adherence.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
RATIO_EXPECTED = _m(
    "ratio_expected",
    "Ratio above 1.00 and below 2.00 on a trough.",
    "Metabolic ratio {ratio}: in the expected range (about 1.32 for non-smokers who are CYP1A2 "
    "extensive metabolizers; 1.73 in another review).",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
RATIO_INHIBITION = _m(
    "ratio_inhibition",
    "Ratio 2.00 to 2.99 on a trough.",
    "Metabolic ratio {ratio} (2.00 or more): suggests an inhibitor of CYP1A2, 2C19, 2D6 or 3A4, "
    "or poor-metabolizer status.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
RATIO_INFLAMMATION = _m(
    "ratio_inflammation",
    "Ratio 3.00 or more on a trough, a serious infection recorded.",
    "Metabolic ratio {ratio} (3.00 or more) during a serious infection: inflammation inhibits "
    "CYP1A2 (ratios around 3.0, range 1.4-8.6); the level may rise sharply. Review the patient "
    "for toxicity and the dose while the infection lasts, and repeat the level.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio; " + MAUDSLEY,
)
RATIO_STRONG_INHIBITION = _m(
    "ratio_strong_inhibition",
    "Ratio 3.00 or more on a trough, no serious infection recorded.",
    "Metabolic ratio {ratio} (3.00 or more): suggests a strong CYP1A2 inhibitor (fluvoxamine, "
    "ciprofloxacin: levels up to 10-fold) or a serious infection. Review the medication list "
    "and the patient for infection and toxicity now.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
RATIO_CHANGED = _m(
    "ratio_changed",
    "The ratio changed by 30 % or more from the patient's previous trough ratio.",
    "Metabolic ratio {ratio} changed {change} from this patient's previous {previous}. A "
    "patient's ratio is fairly fixed; look for a change in smoking, medication or an infection.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
INFECTION_RECORDED = _m(
    "infection_recorded",
    "A serious infection is recorded with the level (whatever the ratio).",
    "A serious infection is recorded: inflammation inhibits CYP1A2 and clozapine levels can rise "
    "sharply. Watch for toxicity (sedation, hypersalivation, myoclonus, seizures), consider "
    "reducing the dose while the infection lasts if there are signs of it, and repeat the level "
    "once the infection has settled.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio (medical illness); " + MAUDSLEY,
)

# --- what calls for a level (prompts) ---------------------------------------------------------

SMOKING_STOPPED = _m(
    "smoking_stopped",
    "Smoking stopped (a change from smoker to non-smoker; nicotine replacement and vaping count "
    "as stopping).",
    "Smoking stopped on {on}{context}: tobacco smoke, not nicotine, induces CYP1A2, so nicotine "
    "replacement and vaping count as stopping. Clozapine levels may rise by about half (in heavy "
    "smokers, double) as the induction wears off over the next 2 to 4 weeks. Review the dose now "
    "(a pre-emptive reduction may be needed), check a trough level one week after stopping and "
    "again once two weeks have passed, and watch for sedation, hypersalivation and seizures.",
    SEED_LEVELS + ", Rationale for Clozapine Levels (smoking); " + MAUDSLEY,
)
SMOKING_STARTED = _m(
    "smoking_started",
    "Smoking started or resumed (a change from non-smoker to smoker).",
    "Smoking started on {on}{context}: tobacco smoke induces CYP1A2, so clozapine levels may fall "
    "by about a third over the next weeks. Check a trough level 1 to 2 weeks after the change; if "
    "symptoms return, confirm adherence and use that trough level before any dose increase.",
    SEED_LEVELS + ", Rationale for Clozapine Levels (smoking); " + MAUDSLEY,
)
SMOKING_FIRST_RECORD = _m(
    "smoking_first_record",
    "The first smoking status recorded for the patient (no earlier status to compare).",
    "Smoking status first recorded as {status} from {on}{context}: no earlier status is "
    "recorded, so this is not known to be a change. Ask whether the patient started or stopped "
    "smoking (or switched to nicotine replacement or vaping) in the past weeks: tobacco smoke "
    "induces CYP1A2, so either changes the level. If so, check a trough level one week after "
    "the change.",
    SEED_LEVELS + ", Rationale for Clozapine Levels (smoking)",
)
STRONG_INHIBITOR_STARTED = _m(
    "strong_inhibitor_started",
    "A strong inhibitor (e.g. fluvoxamine, ciprofloxacin) started.",
    "{drug} (strong {enzyme} inhibitor) started on {on}: clozapine levels can rise several-fold "
    "within days. Avoid the combination if there is an alternative; if not, reduce the clozapine "
    "dose pre-emptively, check a trough level after 5 to 7 days and watch for toxicity.",
    SEED_LEVELS
    + ", Using the Metabolic (MR) Ratio; "
    + SEED_001
    + " (Drug Interactions); "
    + MAUDSLEY,
)
INHIBITOR_STARTED = _m(
    "inhibitor_started",
    "A moderate or weak inhibitor started.",
    "{drug} ({enzyme} inhibitor) started on {on}: clozapine levels may rise by 40 to 100 %. "
    "Check a trough level after 5 to 7 days and watch for dose-related side effects.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
)
INHIBITOR_STOPPED = _m(
    "inhibitor_stopped",
    "An inhibitor stopped.",
    "{drug} ({enzyme} inhibitor) stopped on {on}: clozapine levels will fall as its inhibition "
    "wears off. If the dose was reduced for it, check a trough level after 5 to 7 days (several "
    "weeks for fluoxetine) and confirm adherence before any change back to the earlier dose.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio; " + MAUDSLEY,
)
INDUCER_STARTED = _m(
    "inducer_started",
    "An inducer (e.g. phenytoin, rifampicin) started.",
    "{drug} ({enzyme} inducer) started on {on}: clozapine levels fall as induction builds over "
    "about 2 weeks, so check a trough level 2 weeks after the start (a level at 5 to 7 days would "
    "come too early) and, if symptoms return, confirm adherence and use that trough level before "
    "any dose increase.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio; " + MAUDSLEY,
)
STRONG_INDUCER_STARTED = _m(
    "strong_inducer_started",
    "A strong inducer (e.g. rifampicin, phenytoin, St John's wort) started.",
    "{drug} (strong {enzyme} inducer) started on {on}: avoid it with clozapine if there is an "
    "alternative (the label does not recommend the combination); clozapine levels can fall "
    "sharply as induction builds over about 2 weeks, with a risk of relapse. If it must be "
    "used, check a trough level 2 weeks after the start and review the dose with the "
    "prescriber once adherence is confirmed; when it stops, levels rise again over about 2 "
    "weeks.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio; clozapine label (drug interactions)",
)
INDUCER_STOPPED = _m(
    "inducer_stopped",
    "An inducer stopped.",
    "{drug} ({enzyme} inducer) stopped on {on}: clozapine levels rise as induction wears off "
    "over about 2 weeks. Review the dose, check a trough level 1 to 2 weeks after the stop and "
    "watch for toxicity.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio; " + MAUDSLEY,
)
MARROW_RISK_INDUCER_STARTED = _m(
    "marrow_risk_inducer_started",
    "Carbamazepine (an inducer that also suppresses the marrow) started.",
    "{drug} started on {on}: avoid it with clozapine. It adds its own risk of bone-marrow "
    "suppression (neutropenia, agranulocytosis) and induces clozapine's metabolism, lowering "
    "levels over about 2 weeks. If it cannot be avoided, review with the prescriber, watch the "
    "ANC closely and check a trough level 2 weeks after the start.",
    SEED_001 + " (Drug Interactions); " + MAUDSLEY,
)
LEVEL_STEADY_STATE_PENDING = _m(
    "level_steady_state_pending",
    "A smoking or medication change with no valid steady-state trough drawn once it has settled (a "
    "week after it; two weeks after an inducer or stopping smoking): the prompt stays until one is "
    "in.",
    "No steady-state trough level yet since this change: the prompt stays until one is recorded "
    "once the change has settled (a week after it; two weeks after an inducer starts or stops or "
    "smoking stops).",
    SEED_LEVELS + ", Timing of Clozapine Levels",
)
INDICATION_POOR_RESPONSE = _m(
    "indication_poor_response",
    "Recorded: clozapine less effective than expected.",
    "Clozapine is less effective than expected (noted on {on}): check a trough level at steady "
    "state, and confirm adherence, before any dose change.",
    SEED_LEVELS + ", Rationale for Clozapine Levels",
)
INDICATION_SIDE_EFFECTS = _m(
    "indication_side_effects",
    "Recorded: more side effects than expected.",
    "More side effects than expected (noted on {on}): check a trough level, and look for a "
    "recent change in smoking, medication or an infection.",
    SEED_LEVELS + ", Rationale for Clozapine Levels",
)
INDICATION_ADHERENCE_DOUBT = _m(
    "indication_adherence_doubt",
    "Recorded: adherence in doubt (at the counter or the clinic).",
    "Adherence is in doubt (noted on {on}): check a level to assess it. Do not increase the dose "
    "until adherence is confirmed; if 48 hours or more were missed, restarting needs re-titration "
    "from 12.5 mg.",
    SEED_LEVELS + ", Rationale for Clozapine Levels; " + LABEL,
)
INDICATION_INFECTION = _m(
    "indication_infection",
    "Recorded: a serious infection or inflammation.",
    "A serious infection was noted on {on}: inflammation inhibits CYP1A2 and levels can rise "
    "sharply. Check a level, watch for toxicity, and review the dose while the infection lasts.",
    SEED_LEVELS + ", Using the Metabolic (MR) Ratio (medical illness); " + MAUDSLEY,
)
INDICATION_PREGNANCY = _m(
    "indication_pregnancy",
    "Recorded: pregnancy.",
    "Pregnancy noted on {on}: check clozapine levels each trimester and after delivery (they "
    "change as pregnancy progresses), with close obstetric and psychiatric monitoring; advise "
    "against breastfeeding.",
    SEED_LEVELS
    + ", Rationale for Clozapine Levels (pregnancy); "
    + SEED_001
    + " (Pregnancy and Lactation); "
    + MAUDSLEY,
)
UNEXPECTED_LEVEL_RECHECK = _m(
    "unexpected_level",
    "The last level raised an alert (see its flags).",
    "The last level was unexpected (see its flags): consider a recheck.",
    SEED_LEVELS + ", High Clozapine Levels (>1000 ng/ml)",
)

# --- the counter and the re-titration warning -------------------------------------------------

RETITRATION_NEEDED = _m(
    "retitration_needed",
    "48 hours or more without clozapine supply or a reported dose (dispensing decision, dispense, "
    "daily scan).",
    "No clozapine supply (or dose) for {hours} hours: 48 hours or more off clozapine needs "
    "re-titration from 12.5 mg once or twice daily; the prescriber must confirm the restart dose. "
    "Information only: not a block.",
    LABEL + "; " + SEED_001 + " (Missed doses)",
)

# --- the monitoring plan's findings -----------------------------------------------------------

BOWEL_URGENT = _m(
    "bowel_urgent",
    "Bowel check: no bowel movement for 3 days or more, or abdominal pain, distension or vomiting.",
    "Possible gut hypomotility: {finding}. This needs a same-day medical review (abdominal "
    "examination; ileus and obstruction can kill). Do not wait for the next contact.",
    SEED_PLAN + " (Gastrointestinal Hypomotility); " + MAUDSLEY,
)
BOWEL_CONSTIPATED = _m(
    "bowel_constipated",
    "Bowel check: 2 days without a bowel movement, no pain.",
    "Constipation (2 days without a bowel movement): start or step up laxatives (a stool "
    "softener with a stimulant laxative), avoid anticholinergic medicines, and ask again within "
    "2 days.",
    SEED_PLAN + " (Gastrointestinal Hypomotility); " + MAUDSLEY,
)
BOWEL_NO_LAXATIVE = _m(
    "bowel_no_laxative",
    "Bowel check: normal habit, no laxative taken.",
    "No laxative in use: prophylactic laxatives (a stool softener with a stimulant laxative) are "
    "recommended for everyone on clozapine; prompt the prescriber.",
    SEED_PLAN + " (Gastrointestinal Hypomotility)",
)
MYOCARDITIS_SYMPTOMS = _m(
    "myocarditis_symptoms",
    "Myocarditis checklist: any symptom present.",
    "Symptoms suggest myocarditis: order troponin and CRP now (echocardiogram if abnormal); "
    "confirmed myocarditis means stopping clozapine (seed 001).",
    SEED_PLAN + " (Myocarditis and Cardiomyopathy); " + RONALDSON,
)
MYOCARDITIS_STOP = _m(
    "myocarditis_stop",
    "Troponin above twice the upper limit of normal, or CRP above 100 mg/L.",
    "{finding}: stop clozapine and arrange an urgent medical (cardiology) review today, with an "
    "ECG and echocardiogram.",
    RONALDSON,
)
MYOCARDITIS_DAILY = _m(
    "myocarditis_daily",
    "Troponin above the upper limit (up to twice it), or CRP above 50 mg/L (up to 100).",
    "{finding}: repeat troponin and CRP daily until they settle, ask about symptoms at each, and "
    "review the patient; stop clozapine if troponin passes twice the upper limit or CRP 100 mg/L.",
    RONALDSON,
)
FEVER = _m(
    "fever",
    "Temperature 38.0 °C or more.",
    "Temperature {temperature} °C: rule out infection (check the ANC), myocarditis (troponin, "
    "CRP) and neuroleptic malignant syndrome; fever is common in the first 3 weeks but is never "
    "assumed benign.",
    SEED_PLAN + " (Other Notable Side Effects: Fever); " + RONALDSON,
)
TACHYCARDIA = _m(
    "tachycardia",
    "Resting pulse 120 per minute or more.",
    "Resting pulse {pulse} per minute: screen for myocarditis (symptoms, troponin, CRP) before "
    "the next dose increase.",
    RONALDSON + "; " + SEED_PLAN + " (Cardiovascular Monitoring)",
)
HYPOTENSION = _m(
    "hypotension",
    "Systolic blood pressure below 90 mmHg, or a fall of 20 mmHg or more on standing.",
    "{finding}: orthostatic hypotension; slow the titration or hold the next increase, advise "
    "rising slowly and good hydration, and review.",
    SEED_PLAN + " (Orthostatic Hypotension, Bradycardia, and Syncope)",
)
QTC_LONG = _m(
    "qtc_long",
    "QTc 500 ms or more, or a rise of 60 ms or more from the baseline ECG.",
    "{finding}: a clinically important QTc prolongation. Review with the prescriber before the "
    "next dose (electrolytes, other QT-prolonging medicines, cardiology advice).",
    SEED_PLAN + " (QT prolongation); " + MAUDSLEY,
)
EOSINOPHILIA = _m(
    "eosinophilia",
    "Eosinophils above 0.5 × 10⁹/L (above the upper limit: eosinophilia).",
    "Eosinophils {value} × 10⁹/L: eosinophilia is usually benign but can herald myocarditis; "
    "check troponin and CRP and ask about myocarditis symptoms.",
    SEED_PLAN + " (Other Notable Side Effects: Eosinophilia); " + RONALDSON,
)
SEIZURE = _m(
    "seizure",
    "Seizure checklist: a seizure or myoclonic jerks reported.",
    "A seizure or myoclonic jerks reported: review urgently; check a clozapine level, reduce the "
    "dose and consider an anticonvulsant (valproate preferred) if clozapine continues.",
    SEED_PLAN + " (Seizures)",
)
PREGNANCY = _m(
    "pregnancy",
    "Pregnancy check: pregnant.",
    "Pregnant: do not stop clozapine abruptly; refer for close obstetric and psychiatric "
    "monitoring, check clozapine levels each trimester, and advise against breastfeeding.",
    SEED_PLAN + " (Clozapine in Pregnancy and Lactation); " + MAUDSLEY,
)


def all_messages() -> tuple[Message, ...]:
    return tuple(_ALL)


# The codes whose text may suggest a dose increase. Only one, and clinical.levels gives it only
# to a valid steady-state trough with no doubt about adherence.
SUGGESTS_DOSE_INCREASE = frozenset({BELOW_RESPONSE_THRESHOLD.code})
