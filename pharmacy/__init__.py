"""Pharmacies, pharmacists, dispensing decisions, dispenses."""
