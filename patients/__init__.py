"""Prescribers, patients, enrollment, BEN status, treatment events, authorizations."""
