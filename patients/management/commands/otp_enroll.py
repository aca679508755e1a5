"""Give a user a TOTP device (the administrators' second factor) and print the otpauth:// URI
to add to an authenticator app."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import User


class Command(BaseCommand):
    help = "Enroll a TOTP device for a user (required of administrators with CLOZREMS_ADMIN_OTP)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        self.stdout.write(f"TOTP device {device.pk} for {username}; add to the authenticator app:")
        self.stdout.write(device.config_url)
