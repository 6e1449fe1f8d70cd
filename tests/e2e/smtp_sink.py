"""The e2e suite's SMTP server: aiosmtpd's Maildir handler, except that it refuses, with a permanent
550 reply, every recipient whose local part starts with "bounce" (a mailbox that does not exist)."""

from aiosmtpd.handlers import Mailbox


class BouncingMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("bounce"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
