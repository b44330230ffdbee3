"""French labels for what the records store as codes (field names, choices, roles). English
comes from the catalog like every other string: each label here is a msgid."""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.clinical import texts
from appliance.domain.patient import age_in_months
from appliance.web.i18n import N_

ENCOUNTER_TYPES = {
    "consultation": N_("Consultation"),
    "anc": N_("Consultation prénatale (CPN)"),
    "delivery": N_("Accouchement"),
    "postnatal": N_("Consultation postnatale (CPoN)"),
    "immunization": N_("Vaccination"),
    "growth": N_("Pesée et mesures"),
    "family_planning": N_("Planification familiale"),
    "chronic": N_("Suivi de maladie chronique"),
}

ROLES = {
    "admin": N_("Administrateur"),
    "doctor": N_("Médecin"),
    "midwife": N_("Sage-femme"),
    "nurse": N_("Infirmier·ère"),
    "matron": N_("Matrone"),
    "health_worker": N_("Agent de santé"),
    "technician": N_("Technicien"),
}

FIELDS = {
    "care_date": N_("Date des soins"),
    "notes": N_("Notes"),
    "bp_systolic": N_("Tension systolique (mmHg)"),
    "bp_diastolic": N_("Tension diastolique (mmHg)"),
    "new_case": N_("Nouveau cas"),
    "complaints": N_("Plaintes (une par ligne)"),
    "temperature_c": N_("Température (°C)"),
    "weight_kg": N_("Poids (kg)"),
    "height_cm": N_("Taille (cm)"),
    "pulse_bpm": N_("Pouls (/min)"),
    "resp_rate": N_("Fréquence respiratoire (/min)"),
    "spo2_pct": N_("SpO2 (%)"),
    "malaria_rdt": N_("TDR paludisme"),
    "danger_signs": N_("Signes de danger"),
    "diagnoses": N_("Diagnostics"),
    "prescriptions": N_("Prescriptions"),
    "referral": N_("Référence"),
    "contact_number": N_("Numéro de contact CPN"),
    "lmp": N_("Date des dernières règles (DDR)"),
    "gestational_age_weeks": N_("Âge gestationnel (semaines)"),
    "gravida": N_("Gestité"),
    "parity": N_("Parité"),
    "miscarriages": N_("Avortements"),
    "previous_caesarean": N_("Césarienne antérieure"),
    "previous_stillbirth": N_("Mort-né antérieur"),
    "previous_pph": N_("Hémorragie du post-partum antérieure"),
    "previous_difficult_delivery": N_("Accouchement difficile antérieur"),
    "last_birth_date": N_("Date du dernier accouchement"),
    "hb_g_dl": N_("Hémoglobine (g/dL)"),
    "known_conditions": N_("Maladies connues"),
    "td_dose": N_("Dose de Td donnée"),
    "iptp_dose": N_("Dose de TPI donnée"),
    "place": N_("Lieu"),
    "mode": N_("Mode"),
    "skilled_attendant": N_("Personnel qualifié"),
    "outcome": N_("Issue"),
    "babies": N_("Nombre de bébés"),
    "birth_weight_g": N_("Poids de naissance (g)"),
    "baby_sex": N_("Sexe du bébé"),
    "child_id": N_("Dossier de l'enfant"),
    "complications": N_("Complications"),
    "subject": N_("Pour"),
    "days_after_birth": N_("Jours après la naissance"),
    "breastfeeding": N_("Allaitement"),
    "antigen": N_("Vaccin"),
    "dose": N_("Dose"),
    "lot": N_("Lot"),
    "outreach": N_("Stratégie avancée"),
    "measured": N_("Mesuré"),
    "muac_mm": N_("PB (mm)"),
    "oedema": N_("Œdèmes bilatéraux"),
    "method": N_("Méthode"),
    "user": N_("Utilisatrice"),
    "quantity": N_("Quantité"),
    "removal": N_("Retrait"),
    "condition": N_("Maladie"),
    "glucose_mmol_l": N_("Glycémie (mmol/L)"),
    "adherence": N_("Observance"),
    "treatment": N_("Traitement"),
    "next_visit": N_("Prochain rendez-vous"),
    "code": N_("Diagnostic"),
    "confirmed": N_("Confirmé"),
    "drug": N_("Médicament"),
    "times_per_day": N_("Fois par jour"),
    "days": N_("Jours"),
    "to": N_("Référé vers"),
    "reason": N_("Motif"),
    "urgent": N_("Urgent"),
    "family_name": N_("Nom"),
    "given_names": N_("Prénom(s)"),
    "sex": N_("Sexe"),
    "birth_date": N_("Date de naissance"),
    "age_years": N_("Âge (ans)"),
    "age_months": N_("Âge (mois)"),
    "village": N_("Village / quartier"),
    "phone": N_("Téléphone"),
}

CHOICES = {
    "F": N_("Femme"),
    "M": N_("Homme"),
    "positive": N_("positif"),
    "negative": N_("négatif"),
    "not_done": N_("non fait"),
    "facility": N_("au CSCom"),
    "home": N_("à domicile"),
    "en_route": N_("en route"),
    "vaginal": N_("voie basse"),
    "assisted": N_("assisté"),
    "caesarean": N_("césarienne"),
    "live_birth": N_("naissance vivante"),
    "stillbirth": N_("mort-né"),
    "multiple": N_("naissance multiple"),
    "mother": N_("la mère"),
    "newborn": N_("le nouveau-né"),
    "lying": N_("couché"),
    "standing": N_("debout"),
    "new": N_("nouvelle"),
    "continuing": N_("ancienne"),
    "good": N_("bonne"),
    "partial": N_("partielle"),
    "poor": N_("mauvaise"),
    # diagnoses
    "malaria_confirmed": N_("Paludisme confirmé"),
    "malaria_severe": N_("Paludisme grave"),
    "malaria_suspected": N_("Paludisme suspect"),
    "pneumonia": N_("Pneumonie"),
    "respiratory_infection": N_("Infection respiratoire"),
    "diarrhoea": N_("Diarrhée"),
    "dysentery": N_("Dysenterie"),
    "malnutrition": N_("Malnutrition"),
    "anaemia": N_("Anémie"),
    "measles": N_("Rougeole"),
    "meningitis": N_("Méningite"),
    "skin_infection": N_("Infection cutanée"),
    "eye_infection": N_("Infection oculaire"),
    "ear_infection": N_("Otite"),
    "urinary_infection": N_("Infection urinaire"),
    "sti": N_("IST"),
    "typhoid": N_("Fièvre typhoïde"),
    "hypertension": N_("Hypertension"),
    "diabetes": N_("Diabète"),
    "hiv": N_("VIH"),
    "tuberculosis": N_("Tuberculose"),
    "trauma": N_("Traumatisme"),
    "intestinal_worms": N_("Parasitose intestinale"),
    "other": N_("Autre"),
    # danger signs
    "unable_to_drink": N_("Incapable de boire ou téter"),
    "vomits_everything": N_("Vomit tout"),
    "convulsions": N_("Convulsions"),
    "lethargic": N_("Léthargique ou inconscient"),
    "bleeding": N_("Saignement"),
    "fever": N_("Fièvre"),
    "severe_headache": N_("Céphalées sévères"),
    "visual_disturbance": N_("Troubles visuels"),
    "imminent_delivery": N_("Accouchement imminent"),
    "looks_very_ill": N_("Très malade"),
    "severe_vomiting": N_("Vomissements sévères"),
    "severe_abdominal_pain": N_("Douleur abdominale sévère"),
    "unconscious": N_("Inconsciente"),
    "central_cyanosis": N_("Cyanose centrale"),
    "heart_disease": N_("Cardiopathie"),
    # antigens
    "bcg": N_("BCG"),
    "opv": N_("VPO (polio oral)"),
    "penta": N_("Penta"),
    "pcv": N_("Pneumo (PCV)"),
    "rota": N_("Rota"),
    "ipv": N_("VPI"),
    "mr": N_("RR (rougeole-rubéole)"),
    "yf": N_("Fièvre jaune"),
    "menafrivac": N_("MenAfriVac"),
    "malaria": N_("Paludisme (RTS,S/R21)"),
    "hpv": N_("HPV"),
    "td": N_("Td"),
    # family planning
    "pill_coc": N_("Pilule combinée"),
    "pill_pop": N_("Pilule progestative"),
    "injectable_dmpa_im": N_("Injectable DMPA-IM"),
    "injectable_dmpa_sc": N_("Injectable DMPA-SC (Sayana Press)"),
    "implant": N_("Implant"),
    "iud": N_("DIU"),
    "condom_male": N_("Préservatif masculin"),
    "condom_female": N_("Préservatif féminin"),
    "lam": N_("MAMA (allaitement)"),
    "standard_days": N_("Jours fixes (collier)"),
    "tubal_ligation": N_("Ligature des trompes"),
    "vasectomy": N_("Vasectomie"),
    # chronic conditions and delivery complications
    "tb": N_("Tuberculose"),
    "epilepsy": N_("Épilepsie"),
    "asthma": N_("Asthme"),
    "sickle_cell": N_("Drépanocytose"),
    "pph": N_("Hémorragie du post-partum"),
    "eclampsia": N_("Éclampsie"),
    "obstructed_labour": N_("Dystocie"),
    "sepsis": N_("Infection (sepsis)"),
    "retained_placenta": N_("Rétention placentaire"),
    "perineal_tear": N_("Déchirure périnéale"),
}

# WHO growth indices, as French clinics name them
ZSCORES = {
    "wfa": N_("Poids/âge"),
    "hfa": N_("Taille/âge"),
    "wfh": N_("Poids/taille"),
    "bfa": N_("IMC/âge"),
}

# WHO growth references, as the record names the one that gave the z-scores
REFERENCES = {
    "who2006": N_("Normes OMS 2006 (0-5 ans)"),
    "who2007": N_("Référence OMS 2007 (5-19 ans)"),
}

# WHO 2007 reference categories past 60 months (growth.nutrition_status "categories")
CATEGORIES = {
    "severe_thinness": N_("Maigreur sévère"),
    "thinness": N_("Maigreur"),
    "overweight": N_("Surpoids"),
    "obesity": N_("Obésité"),
    "severe_stunting": N_("Retard de croissance sévère"),
    "stunting": N_("Retard de croissance"),
}

STATUS = {
    "due": N_("à faire"),
    "overdue": N_("en retard"),
    "upcoming": N_("bientôt"),
    "defaulter": N_("perdu de vue"),
    "ok": N_("normal"),
    "warn": N_("batterie faible"),
    "sensor_fault": N_("capteur en panne"),
    "shutdown_pending": N_("arrêt programmé"),
    "unknown": N_("inconnu"),
    "urgent": N_("urgent"),
    "high": N_("élevé"),
    "moderate": N_("modéré"),
    "queued": N_("en attente"),
    "sending": N_("en cours d'envoi"),
    "delivered": N_("envoyé"),
    "failed": N_("échec"),
    "superseded": N_("remplacé"),
    "sam": N_("malnutrition aiguë sévère"),
    "mam": N_("malnutrition aiguë modérée"),
    "normal": N_("normal"),
}

# The modem daemon's states and the network registration (modem.machine, modem.answers).
MODEM = {
    "unknown": N_("inconnu (le service modem n'a pas encore tourné)"),
    "stopped": N_("service modem arrêté"),
    "silent": N_("service modem muet depuis plus de 3 minutes"),
    "absent": N_("pas de modem (clé 3G branchée ?)"),
    "detected": N_("modem détecté"),
    "sim_missing": N_("pas de carte SIM"),
    "sim_locked": N_("SIM verrouillée : code PIN manquant ou refusé"),
    "sim_blocked": N_("SIM bloquée : code PUK de l'opérateur nécessaire"),
    "searching": N_("recherche du réseau"),
    "denied": N_("réseau refusé : appeler l'opérateur"),
    "registered": N_("sur le réseau"),
    "no_apn": N_("APN inconnu pour ce réseau"),
    "ready": N_("prêt (pas de connexion en cours)"),
    "link_up": N_("connecté"),
    "home": N_("réseau national"),
    "roaming": N_("itinérance"),
    "not_registered": N_("non enregistré"),
}


# What confirmed the clock (appliance.clock.TRUST_SOURCES), after "confirmée".
CLOCK_SOURCES = {
    "ntp": N_("par le réseau (NTP)"),
    "modem": N_("par le réseau mobile"),
    "staff": N_("par le personnel"),
}


AGE_DAYS = N_("%(n)s j")
AGE_MONTHS = N_("%(n)s mois")
AGE_YEARS = N_("%(n)s ans")


def age_label(birth_date: str | date, on: date, t: Any) -> str:
    """An age in days (under two calendar months), calendar months (under two years) or completed
    years: the months counted from the date, not from days/30, so an age typed in months is
    shown back as typed."""
    birth = date.fromisoformat(birth_date[:10]) if isinstance(birth_date, str) else birth_date
    months = age_in_months(birth, on)
    if months < 2:
        return t(AGE_DAYS) % {"n": (on - birth).days}
    if months < 24:
        return t(AGE_MONTHS) % {"n": months}
    return t(AGE_YEARS) % {"n": months // 12}


def decimal_text(
    value: float | int | None, t: Any, *, signed: bool = False, places: int = 1
) -> str:
    """A measure in the reader's language: decimal comma in French, point in English, and a
    real minus sign (−3,5) — the kiosk and the clinical texts write numbers the same way."""
    if value is None:
        return ""
    text = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
    text = text.replace("-", "\N{MINUS SIGN}")
    return text if getattr(t, "lang", "fr") == "en" else text.replace(".", ",")


def value_text(value: Any, t: Any) -> str:
    """A stored value shown in a record's history: floats with the reader's decimal mark."""
    if isinstance(value, float):
        return texts.value_text(texts.num(value), t)
    return str(value)


def label(key: str) -> str:
    """The French msgid for a code, or the code itself when it has no label."""
    return FIELDS.get(key) or CHOICES.get(key) or STATUS.get(key) or key


BACKUP_TITLE = N_("Sauvegardes")
BACKUP_LAST = N_("Dernière sauvegarde")
BACKUP_NONE = N_("aucune sauvegarde")
BACKUP_AGE_H = N_("il y a %(hours)s h")
BACKUP_WARN = N_("plus de 2 jours sans sauvegarde : vérifiez l'appareil")
BACKUP_COUNT = N_("Sauvegardes gardées")
BACKUP_USB = N_("Clé USB")
USB_STATES = {
    "writing": N_("écriture en cours"),
    "done": N_("sauvegarde écrite et relue"),
    "failed": N_("échec"),
    "interrupted": N_("interrompue"),
}


def backup_rows(b: dict, t) -> list[tuple[str, str, bool]]:
    """(label, value, warn) rows of the status's `backup` part, for the web page and kiosk."""
    if b.get("made_at"):
        when = b["made_at"].replace("T", " ").rstrip("Z")
        last = f"{when} UTC ({t(BACKUP_AGE_H) % {'hours': b['age_s'] // 3600}})"
    else:
        last = t(BACKUP_NONE)
    rows = [(t(BACKUP_LAST), last, bool(b.get("warn")))]
    if b.get("warn"):
        rows.append(("", t(BACKUP_WARN), True))
    rows.append((t(BACKUP_COUNT), str(b.get("count", 0)), False))
    usb = b.get("usb")
    if usb:
        state = t(USB_STATES.get(usb.get("state"), usb.get("state") or "—"))
        detail = usb.get("file") if usb.get("state") == "done" else usb.get("message")
        when = str(usb.get("at", ""))[:16].replace("T", " ")
        rows.append(
            (
                t(BACKUP_USB),
                f"{state} · {when}" + (f" · {detail}" if detail else ""),
                usb.get("state") == "failed",
            )
        )
    return rows


# A referral's urgency and the state of its SMS to the receiving centre (web and kiosk).
REFERRAL_URGENCY = {"urgent": N_("Urgente"), "non_urgent": N_("Non urgente")}
REFERRAL_SMS = {
    "not_urgent": N_("pas de SMS (non urgente)"),
    "no_consent": N_("pas de SMS : pas d'accord du patient — téléphonez au centre"),
    "no_phone": N_("pas de SMS : pas de numéro pour ce centre — téléphonez"),
    "backdated": N_("pas de SMS : référence saisie après coup"),
    "queued": N_("SMS en attente du réseau"),
    "sending": N_("SMS en cours d'envoi"),
    "sent": N_("SMS envoyé"),
    "failed": N_("SMS non envoyé — téléphonez au centre"),
}
