package artifact

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlreg/mlreg-action/internal/modeldigest"
)

// Addressing styles of MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE.
const (
	AddressingAuto    = "auto"
	AddressingPath    = "path"
	AddressingVirtual = "virtual"
)

// S3Options configures s3:// sources as MLflow's S3 artifact repository
// reads its environment.
type S3Options struct {
	// LoadConfig returns the AWS configuration: credentials and region.
	// main passes DefaultAWSConfig, the SDK's standard chain; it is called
	// once, when the first s3:// source is opened. nil: s3:// sources fail.
	LoadConfig func(ctx context.Context) (aws.Config, error)
	// EndpointURL is an S3-compatible server (MLFLOW_S3_ENDPOINT_URL); ""
	// for AWS.
	EndpointURL string
	// IgnoreTLS skips certificate verification (MLFLOW_S3_IGNORE_TLS).
	IgnoreTLS bool
	// AddressingStyle is MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE: auto (""; path
	// style with an EndpointURL, virtual hosts on AWS), path or virtual.
	AddressingStyle string
	// ExpectedBucketOwner is sent with every request
	// (MLFLOW_S3_EXPECTED_BUCKET_OWNER): S3 refuses a bucket of another account.
	ExpectedBucketOwner string
}

// S3OptionsFromEnv reads MLflow's S3 variables through getenv (main passes
// os.Getenv). It does not set LoadConfig.
func S3OptionsFromEnv(getenv func(string) string) (S3Options, error) {
	o := S3Options{
		EndpointURL:         strings.TrimSpace(getenv("MLFLOW_S3_ENDPOINT_URL")),
		AddressingStyle:     strings.ToLower(strings.TrimSpace(getenv("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE"))),
		ExpectedBucketOwner: strings.TrimSpace(getenv("MLFLOW_S3_EXPECTED_BUCKET_OWNER")),
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("MLFLOW_S3_IGNORE_TLS"))); v {
	case "", "false", "0":
	case "true", "1":
		o.IgnoreTLS = true
	default:
		return S3Options{}, fmt.Errorf("invalid MLFLOW_S3_IGNORE_TLS %q: want true, false, 1 or 0", v)
	}
	switch o.AddressingStyle {
	case "", AddressingAuto, AddressingPath, AddressingVirtual:
	default:
		return S3Options{}, fmt.Errorf("invalid MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE %q: want auto, path or virtual", o.AddressingStyle)
	}
	if o.EndpointURL != "" {
		if u, err := url.Parse(o.EndpointURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return S3Options{}, fmt.Errorf("invalid MLFLOW_S3_ENDPOINT_URL %q: want http(s)://host[:port]", redact(o.EndpointURL))
		}
	}
	return o, nil
}

// DefaultAWSConfig loads the AWS SDK's standard configuration: credentials
// from the environment, the shared files, SSO, web identity (GitHub's OIDC
// role), or the container's or instance's role; the region from
// AWS_REGION or the profile. The SDK reads the process environment itself,
// so only main passes it (as S3Options.LoadConfig).
func DefaultAWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("failed to load the AWS configuration: %w", err)
	}
	return cfg, nil
}

// defaultRegion is boto3's for S3 when none is configured: a bucket
// elsewhere answers with its region, which s3Client then uses.
const defaultRegion = "us-east-1"

// s3Client builds one S3 client per region.
type s3Client struct {
	opts    S3Options
	cfg     aws.Config
	mu      sync.Mutex
	clients map[string]*s3.Client
	regions map[string]string // bucket → region, learned from S3's answers
}

func (r *Resolver) s3Client(ctx context.Context) (*s3Client, error) {
	r.s3once.Do(func() {
		if r.S3.LoadConfig == nil {
			r.s3err = errors.New("S3 is not configured")
			return
		}
		cfg, err := r.S3.LoadConfig(ctx)
		if err != nil {
			r.s3err = err
			return
		}
		if cfg.Region == "" {
			cfg.Region = defaultRegion
		}
		r.s3 = &s3Client{opts: r.S3, cfg: cfg, clients: map[string]*s3.Client{}, regions: map[string]string{}}
	})
	return r.s3, r.s3err
}

func (c *s3Client) client(bucket string) (*s3.Client, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	region := c.cfg.Region
	if r, ok := c.regions[bucket]; ok {
		region = r
	}
	if cl, ok := c.clients[region]; ok {
		return cl, region
	}
	cl := s3.NewFromConfig(c.cfg, func(o *s3.Options) {
		o.Region = region
		if c.opts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.opts.EndpointURL)
		}
		switch c.opts.AddressingStyle {
		case AddressingPath:
			o.UsePathStyle = true
		case AddressingVirtual:
		default:
			o.UsePathStyle = c.opts.EndpointURL != ""
		}
		if c.opts.IgnoreTLS {
			o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
				tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // MLFLOW_S3_IGNORE_TLS
			})
		}
	})
	c.clients[region] = cl
	return cl, region
}

// do runs op with the bucket's client, and once more in the bucket's own
// region when S3 answers that the bucket is elsewhere.
func (c *s3Client) do(bucket string, op func(*s3.Client) error) error {
	cl, region := c.client(bucket)
	err := op(cl)
	var re *awshttp.ResponseError
	if err == nil || !errors.As(err, &re) || re.Response == nil {
		return err
	}
	if other := re.Response.Header.Get("X-Amz-Bucket-Region"); other != "" && other != region &&
		(re.HTTPStatusCode() == http.StatusMovedPermanently || re.HTTPStatusCode() == http.StatusBadRequest) {
		c.mu.Lock()
		c.regions[bucket] = other
		c.mu.Unlock()
		cl, _ = c.client(bucket)
		return op(cl)
	}
	return err
}

// s3Store is a model below s3://bucket/prefix.
type s3Store struct {
	c      *s3Client
	bucket string
	prefix string // the key prefix of the model's files, ending in "/" (or "" for the bucket's root)
	uri    string
}

func (r *Resolver) s3Store(ctx context.Context, loc string) (resolved, error) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return resolved{}, fmt.Errorf("invalid model source %q: want s3://<bucket>/<key>", redact(loc))
	}
	c, err := r.s3Client(ctx)
	if err != nil {
		return resolved{}, fmt.Errorf("failed to open %q: %w", redact(loc), err)
	}
	key := strings.Trim(u.Path, "/")
	prefix := ""
	if key != "" {
		if err := modeldigest.CheckPath(key); err != nil {
			return resolved{}, fmt.Errorf("invalid model source %q: %w", redact(loc), err)
		}
		prefix = key + "/"
	}
	return resolved{store: &s3Store{c: c, bucket: u.Host, prefix: prefix, uri: "s3://" + u.Host + "/" + key}}, nil
}

func (s *s3Store) URI() string { return s.uri }

func (s *s3Store) owner() *string {
	if s.c.opts.ExpectedBucketOwner == "" {
		return nil
	}
	return aws.String(s.c.opts.ExpectedBucketOwner)
}

// maxS3Pages bounds a listing (1000 keys a page).
const maxS3Pages = 1000

func (s *s3Store) List(ctx context.Context) ([]modeldigest.File, error) {
	var (
		out   []modeldigest.File
		token *string
	)
	for range maxS3Pages {
		var page *s3.ListObjectsV2Output
		err := s.c.do(s.bucket, func(cl *s3.Client) error {
			var err error
			page, err = cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
				Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix), ContinuationToken: token,
				ExpectedBucketOwner: s.owner(),
			})
			return err //nolint:wrapcheck // wrapped below, once
		})
		if err != nil {
			return nil, fmt.Errorf("failed to list %q: %w", s.uri, err)
		}
		for _, o := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			size := aws.ToInt64(o.Size)
			if strings.HasSuffix(rel, "/") && size == 0 {
				continue // a directory marker, as MLflow's S3 repository skips it
			}
			out = append(out, modeldigest.File{Path: rel, Size: size})
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		if page.NextContinuationToken == nil || aws.ToString(page.NextContinuationToken) == aws.ToString(token) {
			return nil, fmt.Errorf("failed to list %q: the listing does not advance", s.uri)
		}
		token = page.NextContinuationToken
	}
	return nil, fmt.Errorf("failed to list %q: more than %d pages", s.uri, maxS3Pages)
}

func (s *s3Store) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	if err := modeldigest.CheckPath(path); err != nil {
		return nil, err
	}
	var out *s3.GetObjectOutput
	err := s.c.do(s.bucket, func(cl *s3.Client) error {
		var err error
		out, err = cl.GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + path), ExpectedBucketOwner: s.owner(),
		})
		return err //nolint:wrapcheck // the caller names the file
	})
	if err != nil {
		return nil, fmt.Errorf("GET %q: %w", "s3://"+s.bucket+"/"+s.prefix+path, err)
	}
	return out.Body, nil
}
