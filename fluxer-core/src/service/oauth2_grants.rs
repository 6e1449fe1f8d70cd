//! What an OAuth2 grant looks like from both ends: the application's (`/oauth2/userinfo`,
//! `/oauth2/@me`, through its bearer token) and the user's (the applications they authorized, and
//! revoking one).

use super::oauth2::OAuth2Bearer;
use super::{Actor, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::ApplicationId;
use crate::model::{
    Application, OAuth2Application, OAuth2Authorization, OAuth2Me, OAuth2Scope, OAuth2Scopes,
    OAuth2TokenKind, OAuth2User,
};
use crate::time::Timestamp;

impl Fluxer {
    fn require_bearer<'a>(&self, actor: &'a Actor) -> Result<&'a OAuth2Bearer> {
        actor.oauth2.as_ref().ok_or(Error::Unauthorized)
    }

    /// `GET /oauth2/userinfo`: the user behind a bearer token with the `identify` scope (and the
    /// email with `email`). Other credentials are 401.
    pub fn oauth2_userinfo(&self, actor: &Actor) -> Result<OAuth2User> {
        self.require_bearer(actor)?;
        actor.require_scope(OAuth2Scope::Identify)?;
        Ok(OAuth2User::of(
            &actor.user,
            actor.allows(OAuth2Scope::Email),
        ))
    }

    /// `GET /oauth2/@me`: the bearer token's application, scopes and expiry, and its user with
    /// the `identify` scope.
    pub async fn oauth2_me(&self, actor: &Actor) -> Result<OAuth2Me> {
        let bearer = self.require_bearer(actor)?;
        let app = self
            .store()
            .get_application(bearer.application_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let mut application = self.oauth2_application(&app).await?;
        application.bot_require_code_grant = Some(app.bot_require_code_grant);
        application.flags = Some(0);
        Ok(OAuth2Me {
            application,
            scopes: bearer.scopes.names(),
            expires: bearer.expires_at.to_iso8601(),
            user: bearer
                .scopes
                .contains(OAuth2Scope::Identify)
                .then(|| OAuth2User::of(&actor.user, bearer.scopes.contains(OAuth2Scope::Email))),
        })
    }

    pub(crate) async fn oauth2_application(&self, app: &Application) -> Result<OAuth2Application> {
        let icon = match app.bot_user_id {
            Some(bot) => self.store().get_user(bot).await?.and_then(|b| b.avatar),
            None => None,
        };
        Ok(OAuth2Application {
            id: app.id,
            name: app.name.clone(),
            icon,
            description: (!app.description.is_empty()).then(|| app.description.clone()),
            bot_public: app.bot_public,
            bot_require_code_grant: None,
            flags: None,
        })
    }

    /// `GET /oauth2/@me/authorizations`: the applications the caller authorized (a live refresh
    /// token), with the union of their scopes and the first authorization's date.
    pub async fn list_oauth2_authorizations(
        &self,
        actor: &Actor,
    ) -> Result<Vec<OAuth2Authorization>> {
        actor.require_person("Bots authorize no applications.")?;
        let mut grants: Vec<(ApplicationId, OAuth2Scopes, Timestamp)> = Vec::new();
        for token in self
            .store()
            .list_user_oauth2_tokens(actor.id(), self.now())
            .await?
            .into_iter()
            .filter(|t| t.kind == OAuth2TokenKind::RefreshToken)
        {
            match grants.iter_mut().find(|g| g.0 == token.application_id) {
                Some(g) => {
                    g.1 = g.1.union(token.scopes);
                    g.2 = g.2.min(token.created_at);
                }
                None => grants.push((token.application_id, token.scopes, token.created_at)),
            }
        }
        grants.sort_by_key(|g| g.2);
        let mut out = Vec::with_capacity(grants.len());
        for (app_id, scopes, since) in grants {
            let scopes = scopes.without(OAuth2Scope::Bot);
            let Some(app) = self.store().get_application(app_id).await? else {
                continue;
            };
            if scopes.is_empty() {
                continue;
            }
            out.push(OAuth2Authorization {
                application: self.oauth2_application(&app).await?,
                scopes: scopes.names(),
                authorized_at: since.to_iso8601(),
            });
        }
        Ok(out)
    }

    /// `DELETE /oauth2/@me/authorizations/{application_id}`: revokes the grant, every token of it.
    pub async fn delete_oauth2_authorization(
        &self,
        actor: &Actor,
        application: ApplicationId,
    ) -> Result<()> {
        actor.require_person("Bots authorize no applications.")?;
        self.store()
            .get_application(application)
            .await?
            .ok_or(Error::Unknown(Unknown::Application))?;
        self.store()
            .delete_oauth2_grant(actor.id(), application)
            .await?;
        Ok(())
    }
}
