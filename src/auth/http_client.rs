//! [`OAuthHttp`]: the `oauth2` crate's asynchronous HTTP client, over the one reqwest (0.13) the
//! project uses, so `oauth2` brings neither a second reqwest nor a second TLS stack (it is built
//! without default features). Redirects are never followed (the `oauth2` docs warn of SSRF through
//! them).
use std::future::Future;
use std::pin::Pin;

/// An `oauth2::AsyncHttpClient` over a reqwest client.
#[derive(Clone, Debug)]
pub struct OAuthHttp(reqwest::Client);

impl OAuthHttp {
    /// A client for token endpoints: no redirects, a timeout, our user agent.
    pub fn new() -> Result<OAuthHttp, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("oneonone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map(OAuthHttp)
    }

    /// Wrap an existing client (it must not follow redirects).
    pub fn from_client(client: reqwest::Client) -> OAuthHttp {
        OAuthHttp(client)
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = oauth2::HttpClientError<reqwest::Error>;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut req = self.0.request(parts.method, parts.uri.to_string());
            for (name, value) in &parts.headers {
                req = req.header(name, value);
            }
            let response = req
                .body(body)
                .send()
                .await
                .map_err(|e| oauth2::HttpClientError::Reqwest(Box::new(e)))?;
            let mut builder = http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| oauth2::HttpClientError::Reqwest(Box::new(e)))?;
            builder
                .body(body.to_vec())
                .map_err(oauth2::HttpClientError::Http)
        })
    }
}
