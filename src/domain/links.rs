//! The public links oneonone writes into invites: one agenda doc per occurrence
//! (`{public_url}/a/{token}`) and one stable link per pair (`{public_url}/p/{token}`), which always
//! opens the doc of the pair's next meeting. Tokens are capabilities (128 random bits), made by the
//! shell and handed to the core.

/// The public URL of an agenda doc.
pub fn agenda_url(public_url: &str, token: &str) -> String {
    format!("{}/a/{}", public_url.trim_end_matches('/'), token)
}

/// The pair's stable link: opens the doc of its next meeting, with the earlier ones linked.
pub fn pair_url(public_url: &str, token: &str) -> String {
    format!("{}/p/{}", public_url.trim_end_matches('/'), token)
}

/// Hands out fresh, unguessable tokens for new agenda docs. The core never makes randomness
/// itself: the shell passes a source (the OS's random generator), tests a deterministic one.
pub trait TokenSource: Sync {
    /// A fresh token, or `None` when no randomness is available (the doc is then not made this
    /// cycle).
    fn fresh_token(&self) -> Option<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_have_no_double_slash() {
        assert_eq!(agenda_url("http://h:1/x/", "t"), "http://h:1/x/a/t");
        assert_eq!(pair_url("https://h", "t"), "https://h/p/t");
    }
}
