"""Attach one repository per area to a Store (store.patients, store.encounters, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.store.db import Store


def attach_repositories(store: Store) -> None:
    from appliance.store.audit import AuditRepo
    from appliance.store.clock import ClockRepo
    from appliance.store.dashboard import DashboardRepo
    from appliance.store.drafts import DraftRepo
    from appliance.store.due_items import DueItemRepo
    from appliance.store.encounters import EncounterRepo
    from appliance.store.library import LibraryRepo
    from appliance.store.opinions import OpinionRepo
    from appliance.store.outbox import OutboxRepo
    from appliance.store.patients import PatientRepo
    from appliance.store.power import PowerRepo
    from appliance.store.referrals import ReferralRepo
    from appliance.store.reminders import ReminderRepo
    from appliance.store.reports import ReportRepo
    from appliance.store.staff import StaffRepo
    from appliance.store.web_sessions import WebSessionRepo

    store.patients = PatientRepo(store)
    store.encounters = EncounterRepo(store)
    store.staff = StaffRepo(store)
    store.audit = AuditRepo(store)
    store.clock = ClockRepo(store)
    store.power = PowerRepo(store)
    store.outbox = OutboxRepo(store)
    store.reports = ReportRepo(store)
    store.web_sessions = WebSessionRepo(store)
    store.drafts = DraftRepo(store)
    store.due_items = DueItemRepo(store)
    store.reminders = ReminderRepo(store)
    store.opinions = OpinionRepo(store)
    store.referrals = ReferralRepo(store)
    store.library = LibraryRepo(store)
    store.dashboard = DashboardRepo(store)
