"""An e-mail backend for the live worker test: the first message whose subject contains
"[flaky]" fails while the marker file exists (the marker is removed), every other is kept in a
file so the test can see what was sent."""

from __future__ import annotations

import json
import os
import smtplib
from collections.abc import Sequence
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


class FlakyFileBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        marker = Path(os.environ["CLOZREMS_TEST_FLAKY_MARKER"])
        sent = Path(os.environ["CLOZREMS_TEST_SENT_LOG"])
        for message in email_messages:
            if "[flaky]" in message.subject and marker.exists():
                marker.unlink()
                raise smtplib.SMTPServerDisconnected("test: the mail server went away once")
            with sent.open("a") as log:
                log.write(json.dumps({"subject": message.subject, "to": message.to}) + "\n")
        return len(email_messages)
