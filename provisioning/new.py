"""What `keneya provision new` asks, and the facility file it writes from the answers.

Pure functions: the CLI (elsewhere) prompts with QUESTIONS, then calls `build`. The admin's
PIN and password are typed in clear (or generated) and written only as argon2id hashes; what
the technician must keep safe comes back separately, to be shown once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from appliance.domain import facility_settings
from appliance.services.auth import PASSWORD_HASHER, PIN_HASHER, check_password, check_pin
from modem import config as modem_config
from modem.errors import ConfigurationError as ModemConfigurationError
from provisioning import access_table, backup_table
from provisioning import facility as schema
from provisioning.facility import FacilityFileError, FieldError, Problem

SOURCE = "keneya provision new"
# Answers that are lists: `--set KEY=VALUE` given several times adds a line each time.
LIST_ANSWERS = ("ssh.authorized_keys",)
Validator = Callable[[str], str | None]

# Short, common French words without accents: easy to read aloud and type on a tablet.
_WORD_TEXT = (
    "abri arbre argent avion bague balle banane bateau bijou bleu bois bol bonnet botte bouche "
    "boule bras brique cafe cage calme camion canard carte case chat chaise champ chant chemin "
    "cheval chien ciel citron clef clou coeur colline corde coton coude crayon cuir danse dent "
    "desert dune eau ecole epice etoile fable farine fenetre fer feuille fil fleur fleuve foin "
    "fort foyer fruit gare gateau genou girafe gomme grain grenier guitare herbe hibou ile jardin "
    "jaune joie jouet jus lac laine lampe lapin lait lettre lion livre lune main maison mangue "
    "marche melon miel mil montagne mouton mur nuage oasis oiseau olive ombre orange oreille "
    "pagne pain panier papier perle piano pierre pilon pirogue plage plume pluie poisson pomme "
    "pont porte poule puits radio riz robe roche rose route sable sac savon sel singe soleil "
    "sorgho source stylo table tambour tapis terre tigre toit tomate train tresor vache vallee "
    "vent verre village violon zebre"
)
WORDS = tuple(_WORD_TEXT.split())


def generate_pin() -> str:
    """Six random digits that auth.check_pin accepts (not a run, not one digit repeated)."""
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(6))
        try:
            return check_pin(pin)
        except ValueError:
            continue


def generate_password() -> str:
    """Four random words joined by dashes (about 29 bits; logins are also rate-limited)."""
    return "-".join(secrets.choice(WORDS) for _ in range(4))


def _rule(check: Callable[[str], Any], *, optional: bool = False) -> Validator:
    """A validator for one answer: None when it is acceptable, else what is wrong and what
    would be right (the CLI shows it and asks again). Optional answers may be empty."""

    def validate(answer: str) -> str | None:
        answer = answer.strip()
        if optional and not answer:
            return None
        try:
            check(answer)
        except ValueError as exc:
            return str(exc)
        return None

    validate.check = check  # type: ignore[attr-defined]
    validate.optional = optional  # type: ignore[attr-defined]
    return validate


def _optional(check: Callable[[str], Any]) -> Validator:
    return _rule(check, optional=True)


def _not_empty(answer: str) -> str:
    if not answer:
        raise FieldError("must not be empty", "type a value")
    return answer


def _channel(answer: str) -> int:
    if not answer.isdigit():
        raise FieldError(f'"{answer}" is not a number', "1 to 13, e.g. 6")
    return schema.check_channel(int(answer))


def _passphrase(answer: str) -> str:
    return answer if answer == schema.GENERATE else schema.check_passphrase(answer)


def _sms_gateway(answer: str) -> str:
    try:
        modem_config.from_mapping({"sms_gateway": answer})
    except ModemConfigurationError as exc:
        raise FieldError(str(exc).removeprefix("[modem] "), "e.g. +22370000000") from None
    return answer


def _recipients(answer: str) -> tuple[str, ...]:
    try:
        return backup_table.parse_recipients(answer)
    except backup_table.RecipientError as exc:
        raise FieldError(exc.message, exc.hint) from None


def _ssh_keys(answer: str) -> tuple[str, ...]:
    """Keys one per line; a line `@PATH` stands for that file's keys (a .pub file, or an
    authorized_keys file of several)."""
    try:
        text = "\n".join(access_table.read_keys_file(line) for line in answer.splitlines())
        keys = access_table.parse_keys(text)
    except access_table.PublicKeyError as exc:
        raise FieldError(exc.message, exc.hint) from None
    if answer.strip() and not keys:
        raise FieldError("holds no key", f"give {access_table.HOW_TO}, or @FILE.pub")
    return keys


def _ssh_from(answer: str) -> tuple[str, ...]:
    try:
        return access_table.check_sides(answer.replace(",", " ").split())
    except access_table.PublicKeyError as exc:
        raise FieldError(exc.message, exc.hint) from None


def _switch(answer: str) -> bool:
    try:
        return access_table.parse_switch(answer)
    except access_table.PublicKeyError as exc:
        raise FieldError(exc.message, exc.hint) from None


def _malaria_vaccine(answer: str) -> str:
    return facility_settings.parse("malaria_vaccine", answer)


def _pin(answer: str) -> str:
    try:
        return check_pin(answer)
    except ValueError as exc:
        raise FieldError(str(exc), "or leave empty: a PIN is generated") from None


def _password(answer: str) -> str:
    try:
        return check_password(answer)
    except ValueError as exc:
        raise FieldError(str(exc), "or leave empty: a password is generated") from None


# (key, French prompt / English prompt, default, validator). A validator returns None for an
# acceptable answer, else a message saying what is wrong and what would be right.
QUESTIONS: list[tuple[str, str, str, Validator]] = [
    ("facility.name", "Nom du centre / Facility name", "", _rule(_not_empty)),
    (
        "facility.code",
        "Code du centre, 2 à 6 majuscules / Facility code, 2-6 capital letters",
        "",
        _rule(schema.check_code),
    ),
    ("facility.district", "District sanitaire / Health district", "", _rule(_not_empty)),
    ("facility.region", "Région / Region", "", _rule(_not_empty)),
    (
        "facility.org_unit",
        "UID DHIS2 du centre (unité d'organisation) / Facility's DHIS2 org unit UID",
        "",
        _rule(schema.check_uid),
    ),
    ("dhis2.url", "Adresse du DHIS2 / DHIS2 address", "", _rule(schema.check_url)),
    (
        "dhis2.data_set",
        "UID DHIS2 de l'ensemble de données mensuel / DHIS2 UID of the monthly data set",
        "",
        _rule(schema.check_uid),
    ),
    (
        "dhis2.token",
        "Jeton d'accès DHIS2 (vide: identifiant et mot de passe) / DHIS2 access token "
        "(empty: username and password)",
        "",
        _optional(_not_empty),
    ),
    (
        "dhis2.username",
        "Identifiant DHIS2 (vide si jeton) / DHIS2 username (empty with a token)",
        "",
        _optional(_not_empty),
    ),
    (
        "dhis2.password",
        "Mot de passe DHIS2 (vide si jeton) / DHIS2 password (empty with a token)",
        "",
        _optional(_not_empty),
    ),
    (
        "dhis2.mapping",
        "Fichier de correspondance DHIS2 du district (vide: aucun) / District's DHIS2 mapping "
        "file (empty: none)",
        "",
        _optional(schema.check_mapping_name),
    ),
    (
        "hotspot.ssid",
        "Nom du réseau Wi-Fi (vide: Keneya-CODE) / Wi-Fi network name (empty: Keneya-CODE)",
        "",
        _optional(schema.check_ssid),
    ),
    (
        "hotspot.passphrase",
        "Mot de passe Wi-Fi, 12 à 63 caractères (vide: généré) / Wi-Fi passphrase, 12-63 "
        "characters (empty: generated)",
        "",
        _optional(_passphrase),
    ),
    ("hotspot.channel", "Canal Wi-Fi, 1 à 13 / Wi-Fi channel, 1-13", "6", _rule(_channel)),
    ("admin.name", "Nom de l'administrateur / Administrator's name", "", _rule(_not_empty)),
    (
        "admin.username",
        "Identifiant de l'administrateur (ex. awa.traore) / Administrator's username",
        "",
        _rule(schema.check_username),
    ),
    (
        "admin.pin",
        "PIN de l'administrateur, 4 à 8 chiffres (vide: généré) / Administrator's PIN, 4-8 "
        "digits (empty: generated)",
        "",
        _optional(_pin),
    ),
    (
        "admin.password",
        "Mot de passe de l'administrateur, 8 caractères au moins (vide: généré) / "
        "Administrator's password, at least 8 characters (empty: generated)",
        "",
        _optional(_password),
    ),
    (
        "modem.sms_gateway",
        "Numéro de la passerelle SMS du district (vide: aucun) / District's SMS gateway "
        "number (empty: none)",
        "",
        _optional(_sms_gateway),
    ),
    (
        "modem.sim_pin",
        "PIN de la carte SIM (vide: aucun) / SIM card PIN (empty: none)",
        "",
        _optional(schema.check_sim_pin),
    ),
    (
        "backup.recipients",
        "Clé(s) publique(s) age du district pour les sauvegardes sur clé USB, age1… (vide:"
        " aucune) / District's age public key(s) for USB backups (empty: none)",
        "",
        _optional(_recipients),
    ),
    (
        "ssh.authorized_keys",
        "Clé publique SSH du technicien, ou @fichier.pub (vide: pas de SSH) / Technician's SSH"
        " public key, or @file.pub (empty: no SSH)",
        "",
        _optional(_ssh_keys),
    ),
    (
        "ssh.from",
        "SSH depuis: hotspot, ethernet, ou les deux (hotspot,ethernet) / SSH from: hotspot,"
        " ethernet, or both",
        "hotspot",
        _rule(_ssh_from),
    ),
    (
        "firewall.ethernet_web",
        "Application web aussi sur le port Ethernet, on ou off / Web app also on the Ethernet"
        " port, on or off",
        "off",
        _rule(_switch),
    ),
    (
        "settings.malaria_vaccine",
        "Vaccin antipaludique R21 dans le calendrier, on ou off / R21 malaria vaccine in the "
        "schedule, on or off",
        "off",
        _rule(_malaria_vaccine),
    ),
    (
        "time_zone",
        "Fuseau horaire / Time zone",
        schema.DEFAULT_TIME_ZONE,
        _rule(schema.check_time_zone),
    ),
    (
        "language",
        "Langue, fr ou en / Language, fr or en",
        schema.DEFAULT_LANGUAGE,
        _rule(schema.check_language),
    ),
]


def _validated(answers: Mapping[str, str]) -> dict[str, str]:
    """Every answer checked (a missing one takes its default); all mistakes raised at once."""
    known = {key for key, *_ in QUESTIONS}
    problems = [
        Problem(key, None, "not a question of keneya provision new", "", SOURCE)
        for key in answers
        if key not in known
    ]
    values: dict[str, str] = {}
    for key, _prompt, default, validate in QUESTIONS:
        answer = (answers.get(key) or default).strip()
        if validate(answer) is None:
            values[key] = answer
            continue
        try:
            validate.check(answer)  # type: ignore[attr-defined]
        except FieldError as exc:
            problems.append(Problem(key, None, exc.message, exc.hint, SOURCE))
        except ValueError as exc:
            problems.append(Problem(key, None, str(exc), "", SOURCE))
    token, username, password = (
        values.get(f"dhis2.{k}") for k in ("token", "username", "password")
    )
    if "dhis2.token" in values and "dhis2.username" in values and "dhis2.password" in values:
        if token and (username or password):
            problems.append(
                Problem(
                    "dhis2.token",
                    None,
                    "give a token or a username and password, not both",
                    "",
                    SOURCE,
                )
            )
        elif not token and not (username and password):
            problems.append(
                Problem(
                    "dhis2.token",
                    None,
                    "give a DHIS2 access token, or a username and a password",
                    "",
                    SOURCE,
                )
            )
    if problems:
        raise FacilityFileError(problems)
    return values


def build(answers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The facility.toml text from the answers, and what the technician must keep safe
    (French labels: shown once, then only the hashes remain).

    Raises FacilityFileError listing every wrong answer."""
    values = _validated(answers)
    pin = values["admin.pin"] or generate_pin()
    password = values["admin.password"] or generate_password()
    passphrase = values["hotspot.passphrase"]
    if passphrase in ("", schema.GENERATE):
        passphrase = schema.generate_passphrase()
    code = values["facility.code"]
    dhis2: dict[str, Any] = {"url": values["dhis2.url"], "data_set": values["dhis2.data_set"]}
    for key in ("token", "username", "password", "mapping"):
        if values[f"dhis2.{key}"]:
            dhis2[key] = values[f"dhis2.{key}"]
    modem = {
        key: values[f"modem.{key}"] for key in ("sms_gateway", "sim_pin") if values[f"modem.{key}"]
    }
    data: dict[str, Any] = {
        "time_zone": values["time_zone"],
        "language": values["language"],
        "facility": {key: values[f"facility.{key}"] for key in schema.KEYS["facility"]},
        "dhis2": dhis2,
        "hotspot": {
            "ssid": values["hotspot.ssid"] or f"Keneya-{code}",
            "passphrase": passphrase,
            "channel": int(values["hotspot.channel"]),
        },
        "admin": {
            "name": values["admin.name"],
            "username": values["admin.username"],
            "pin_hash": PIN_HASHER.hash(pin),
            "password_hash": PASSWORD_HASHER.hash(password),
        },
    }
    if modem:
        data["modem"] = modem
    if values["backup.recipients"]:
        data["backup"] = {"recipients": list(_recipients(values["backup.recipients"]))}
    keys = _ssh_keys(values["ssh.authorized_keys"])
    if keys:
        data["ssh"] = {"authorized_keys": list(keys), "from": list(_ssh_from(values["ssh.from"]))}
    if _switch(values["firewall.ethernet_web"]):
        data["firewall"] = {"ethernet_web": True}
    vaccine = _malaria_vaccine(values["settings.malaria_vaccine"])
    data["settings"] = {"malaria_vaccine": facility_settings.is_on(vaccine)}
    text = schema.dump(data)
    schema.parse(text, source=SOURCE)  # what we write must be what first boot accepts
    keep_safe = {
        "PIN de l'administrateur": pin,
        "mot de passe": password,
        "mot de passe Wi-Fi": passphrase,
    }
    if "token" in dhis2:
        keep_safe["jeton DHIS2"] = dhis2["token"]
    if "password" in dhis2:
        keep_safe["mot de passe DHIS2"] = dhis2["password"]
    return text, keep_safe
