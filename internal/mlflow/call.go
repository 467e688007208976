package mlflow

import (
	"context"
	"net/http"
	"net/url"
)

// Call sends one request to path below <tracking URI>/api/2.0/mlflow (for
// example "/unity-catalog/model-versions/get") with this client's
// credentials, retries and typed errors, for packages that speak another
// service under the same prefix (internal/uc). A GET carries query and no
// body; any other method carries body as JSON. A GET is retried as a read,
// anything else as a write whose repetition is harmless (see the package
// documentation). A 2xx body is decoded into out when out is not nil.
func (c *Client) Call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	cl := call{method: method, path: path, out: out, policy: retryWrite}
	if method == http.MethodGet {
		cl.query, cl.policy = query, retryRead
	} else {
		cl.body = body
	}
	return c.do(ctx, cl)
}

// CallOnce is Call for a write that must not run twice: it is retried only
// when the request cannot have been acted on, as CreateModelVersion is (see
// the package documentation).
func (c *Client) CallOnce(ctx context.Context, method, path string, query url.Values, body, out any) error {
	return c.do(ctx, call{method: method, path: path, query: query, body: body, out: out, policy: retryOnce})
}
