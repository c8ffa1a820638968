//! The answer to the server's password confirmation (user-interactive authentication).

use serde_json::json;

use crate::{Request, Response};

/// User-interactive authentication: when `response` is the server's 401 asking for
/// confirmation (it has `flows`), the same `request` with an `m.login.password` answer
/// (and the server's `session`). `None` when the response is not such a question.
pub fn with_password(
    request: &Request,
    response: &Response,
    user_id: &str,
    password: &str,
) -> Option<Request> {
    if response.status != 401 || response.body.get("flows").is_none() {
        return None;
    }
    let mut auth = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    });
    if let (Some(session), Some(a)) = (response.body.get("session"), auth.as_object_mut()) {
        a.insert("session".into(), session.clone());
    }
    let mut body = request.body.clone().unwrap_or_else(|| json!({}));
    body.as_object_mut()?.insert("auth".into(), auth);
    Some(Request {
        body: Some(body),
        ..request.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests;

    #[test]
    fn the_password_answers_the_servers_question() {
        let request = requests::upload_cross_signing(json!({"master_key": {}}));
        let ok = Response::ok(json!({}));
        assert!(with_password(&request, &ok, "@a:x", "pw").is_none());
        let question = Response::new(
            401,
            json!({"session": "S", "flows": [{"stages": ["m.login.password"]}]}),
        );
        let again = with_password(&request, &question, "@a:x", "pw").unwrap();
        let auth = &again.body.as_ref().unwrap()["auth"];
        assert_eq!(auth["type"], "m.login.password");
        assert_eq!(auth["session"], "S");
        assert_eq!(auth["identifier"]["user"], "@a:x");
        assert_eq!(again.body.as_ref().unwrap()["master_key"], json!({}));
    }
}
