"""Give a user its first TOTP device (the administrators' second factor) and print the
otpauth:// URI to add to an authenticator app.

Second factors stay with their owners: a user who already has one adds or removes devices
itself, in the admin (which shows each administrator only its own). `--replace` is for a lost
authenticator: it removes the user's devices first. Both are audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import User
from patients.services import second_factor_audit


class Command(BaseCommand):
    help = "Enroll a TOTP device for a user (required of administrators with CLOZREMS_ADMIN_OTP)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="remove the user's devices first (a lost authenticator)",
        )

    def handle(self, *args: Any, username: str, name: str, replace: bool, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        existing = list(TOTPDevice.objects.filter(user=user))
        if existing and not replace:
            raise CommandError(
                f"{username} already has a second factor; its owner adds more in the admin "
                "(TOTP devices). For a lost authenticator, run again with --replace."
            )
        with transaction.atomic():
            for device in existing:
                second_factor_audit(actor=None, device=device, enrolled=False)
                device.delete()
            device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
            second_factor_audit(actor=None, device=device, enrolled=True)
        self.stdout.write(f"TOTP device {device.pk} for {username}; add to the authenticator app:")
        self.stdout.write(device.config_url)
