//! The emails the platform sends, as plain text and HTML. Every value that comes from a user is
//! HTML-escaped in the HTML part; links are built by the caller from configured URLs and random tokens.

use crate::ports::Email;
use crate::validation::escape_html;

/// One email: a greeting, paragraphs, one button link, a footer line.
struct Template<'a> {
    subject: &'a str,
    username: &'a str,
    intro: &'a str,
    action: &'a str,
    link: &'a str,
    outro: &'a str,
}

impl Template<'_> {
    fn render(&self, to: &str) -> Email {
        let text = format!(
            "Hi {},\n\n{}\n{}: {}\n\n{}\n\n-- Fluxer\n",
            self.username, self.intro, self.action, self.link, self.outro
        );
        let html = format!(
            "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
             <p>Hi {user},</p><p>{intro}</p>\
             <p><a href=\"{link}\" style=\"display:inline-block;padding:10px 16px;background:#4641d9;\
             color:#fff;border-radius:6px;text-decoration:none\">{action}</a></p>\
             <p style=\"font-size:12px;color:#666\">Or open this link: {link}</p>\
             <p>{outro}</p><p>-- Fluxer</p></body></html>",
            user = escape_html(self.username),
            intro = escape_html(self.intro),
            link = escape_html(self.link),
            action = escape_html(self.action),
            outro = escape_html(self.outro),
        );
        Email {
            to: to.to_owned(),
            subject: self.subject.to_owned(),
            text,
            html: Some(html),
        }
    }
}

pub(crate) fn verify_email(to: &str, username: &str, link: &str) -> Email {
    Template {
        subject: "Verify your email for Fluxer",
        username,
        intro: "Confirm this address to finish setting up your account.",
        action: "Verify email",
        link,
        outro: "The link works for 24 hours. If you did not sign up, ignore this email.",
    }
    .render(to)
}

pub(crate) fn email_changed(to: &str, username: &str, link: &str) -> Email {
    Template {
        subject: "Confirm your new email for Fluxer",
        username,
        intro: "Your account's email address was changed to this one. Confirm it to keep using it.",
        action: "Confirm email",
        link,
        outro: "The link works for 24 hours. If you did not change your email, reset your password now.",
    }
    .render(to)
}

/// A code to type into the app (`XXXX-XXXX`), for an email or password change.
pub(crate) fn verification_code(
    to: &str,
    username: &str,
    subject: &str,
    intro: &str,
    code: &str,
) -> Email {
    let text = format!(
        "Hi {username},\n\n{intro}\n\n    {code}\n\nThe code works for 10 minutes. If it was not you, \
         ignore this email and consider changing your password.\n\n-- Fluxer\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
         <p>Hi {user},</p><p>{intro}</p>\
         <p style=\"font-size:24px;font-family:monospace;letter-spacing:2px\"><b>{code}</b></p>\
         <p>The code works for 10 minutes. If it was not you, ignore this email and consider changing \
         your password.</p><p>-- Fluxer</p></body></html>",
        user = escape_html(username),
        intro = escape_html(intro),
        code = escape_html(code),
    );
    Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text,
        html: Some(html),
    }
}

/// To the old address after an email change, with the link that puts it back.
pub(crate) fn email_change_revert(to: &str, username: &str, new_email: &str, link: &str) -> Email {
    let intro = format!(
        "The email address of your Fluxer account was changed to {new_email}. If you did this, there \
         is nothing to do."
    );
    Template {
        subject: "Your Fluxer email was changed",
        username,
        intro: &intro,
        action: "This wasn't me",
        link,
        outro: "The link works for 48 hours: it puts this address back, sets a new password and logs \
                out every session.",
    }
    .render(to)
}

/// A login from a new address, with the link that approves it.
pub(crate) fn ip_authorization(to: &str, username: &str, ip: &str, link: &str) -> Email {
    let intro = format!(
        "Someone logged in to your Fluxer account with your password from an address it has not \
         used before ({ip}). If it was you, approve the login."
    );
    Template {
        subject: "Approve a login to Fluxer from a new location",
        username,
        intro: &intro,
        action: "Approve login",
        link,
        outro: "The link works for 15 minutes. If it was not you, do not open it and change your \
                password now.",
    }
    .render(to)
}

pub(crate) fn reset_password(to: &str, username: &str, link: &str) -> Email {
    Template {
        subject: "Reset your Fluxer password",
        username,
        intro: "Someone asked to reset your password. Choose a new one with the link below.",
        action: "Reset password",
        link,
        outro: "The link works for one hour. If it was not you, ignore this email.",
    }
    .render(to)
}

pub(crate) fn harvest_ready(to: &str, username: &str, link: &str) -> Email {
    Template {
        subject: "Your Fluxer data package is ready",
        username,
        intro: "The copy of your data you asked for is ready to download.",
        action: "Download your data",
        link,
        outro: "The link works for 7 days.",
    }
    .render(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_part_escapes_what_users_control() {
        let email = verify_email(
            "a@example.test",
            "<b>eve</b>",
            "https://x.test/verify#token=abc",
        );
        let html = email.html.unwrap();
        assert!(html.contains("&lt;b&gt;eve&lt;/b&gt;"));
        assert!(!html.contains("<b>eve"));
        assert!(email.text.contains("Hi <b>eve</b>,"));
        assert!(email.text.contains("https://x.test/verify#token=abc"));
        assert!(html.contains("href=\"https://x.test/verify#token=abc\""));
    }
}
