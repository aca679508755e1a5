"""Identifier checks for the directory."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def npi_is_valid(npi: str) -> bool:
    """An NPI is 10 digits whose last is a Luhn check digit over the prefix 80840 + 9 digits."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


def validate_npi(value: str) -> None:
    if not npi_is_valid(value):
        raise ValidationError(
            "Enter a 10-digit NPI with a valid check digit (Luhn over the 80840 prefix).",
            code="invalid_npi",
        )


def validate_ncpdp_id(value: str) -> None:
    if len(value) != 7 or not value.isdigit():
        raise ValidationError("Enter the pharmacy's 7-digit NCPDP id.", code="invalid_ncpdp")
