package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	authRequestLifetime = 10 * time.Minute
	accessTokenLifetime = 5 * time.Minute
	idTokenLifetime     = 5 * time.Minute
)

var errNotFound = errors.New("devidp: not found or expired")

// storage is the in-memory op.Storage. Everything is behind one mutex, and
// auth requests leave it only as copies, so op never reads one while a login
// changes it.
type storage struct {
	mu       sync.Mutex
	now      func() time.Time
	client   *client
	users    []User
	dir      func(context.Context) ([]User, error) // more users, read each time; may be nil
	key      *rsaKey
	requests map[string]*authRequest
	codes    map[string]string // code → auth request id
	tokens   map[string]accessToken
}

type accessToken struct {
	subject string
	scopes  []string
	expires time.Time
}

func newStorage(c *client, users []User, dir func(context.Context) ([]User, error), now func() time.Time) (*storage, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devidp: generate signing key: %w", err)
	}
	return &storage{
		now:      now,
		client:   c,
		users:    slices.Clone(users),
		dir:      dir,
		key:      &rsaKey{id: rand.Text(), priv: priv},
		requests: make(map[string]*authRequest),
		codes:    make(map[string]string),
		tokens:   make(map[string]accessToken),
	}, nil
}

// sweep drops expired auth requests, their codes and expired access tokens.
// The caller holds s.mu.
func (s *storage) sweep(now time.Time) {
	for id, r := range s.requests {
		if r.expired(now) {
			delete(s.requests, id)
		}
	}
	for code, id := range s.codes {
		if _, ok := s.requests[id]; !ok {
			delete(s.codes, code)
		}
	}
	for id, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, id)
		}
	}
}

// request returns a copy of a live auth request. The caller holds s.mu.
func (s *storage) request(id string) (*authRequest, error) {
	r, ok := s.requests[id]
	if !ok || r.expired(s.now()) {
		return nil, errNotFound
	}
	c := *r
	return &c, nil
}

// allUsers is the fixed users, then the directory's (those whose subject
// or email a fixed user has are left out). A directory that fails adds
// nobody: the sign-in then fails as for an unknown user.
func (s *storage) allUsers(ctx context.Context) []User {
	users := slices.Clone(s.users)
	if s.dir == nil {
		return users
	}
	more, err := s.dir(ctx)
	if err != nil {
		return users
	}
	for _, u := range more {
		if u.Subject == "" || u.Email == "" || slices.ContainsFunc(users, func(v User) bool { return v.Subject == u.Subject || strings.EqualFold(v.Email, u.Email) }) {
			continue
		}
		users = append(users, u)
	}
	return users
}

func (s *storage) userBySubject(ctx context.Context, sub string) (User, bool) {
	return s.userWhere(ctx, func(u User) bool { return u.Subject == sub })
}

func (s *storage) userByEmail(ctx context.Context, email string) (User, bool) {
	return s.userWhere(ctx, func(u User) bool { return email != "" && strings.EqualFold(u.Email, email) })
}

func (s *storage) userWhere(ctx context.Context, match func(User) bool) (User, bool) {
	users := s.allUsers(ctx)
	i := slices.IndexFunc(users, match)
	if i < 0 {
		return User{}, false
	}
	return users[i], true
}

// pendingRequest returns a copy of an auth request still waiting for a login.
func (s *storage) pendingRequest(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.request(id)
	if err != nil || r.code != "" {
		return nil, errNotFound
	}
	return r, nil
}

// completeLogin signs the user in for one auth request, now: there are no
// sessions here, so every login is a new authentication and auth_time is
// its time (unless the user is set up to say otherwise). A request whose
// code was already issued cannot be signed in again.
func (s *storage) completeLogin(id string, u User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok || r.expired(s.now()) || r.code != "" {
		return errNotFound
	}
	r.subject, r.authTime, r.done = u.Subject, s.now().Add(-u.AuthAge), true
	if u.OmitAuthTime {
		r.authTime = time.Time{} // op leaves out a zero auth_time
	}
	return nil
}

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	r := &authRequest{
		id:           rand.Text(),
		created:      now,
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		scopes:       slices.Clone(req.Scopes),
		state:        req.State,
		nonce:        req.Nonce,
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		loginHint:    req.LoginHint,
		prompt:       slices.Clone(req.Prompt),
	}
	if req.CodeChallenge != "" {
		r.challenge = &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}
	}
	s.requests[r.id] = r
	c := *r
	return &c, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.request(id)
}

// AuthRequestByCode consumes the code: a second exchange of the same code
// fails even if the first one has not finished.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errNotFound
	}
	delete(s.codes, code)
	return s.request(id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok || r.expired(s.now()) || !r.done || r.code != "" {
		return errNotFound
	}
	r.code = code
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.requests[id]; ok {
		delete(s.codes, r.code)
		delete(s.requests, id)
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	id := rand.Text()
	t := accessToken{subject: req.GetSubject(), scopes: slices.Clone(req.GetScopes()), expires: now.Add(accessTokenLifetime)}
	s.tokens[id] = t
	return id, t.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("devidp: refresh tokens are not supported")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

func (s *storage) RevokeToken(_ context.Context, tokenID, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tokenID)
	return nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != s.client.id {
		return nil, errNotFound
	}
	return s.client, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != s.client.id || subtle.ConstantTimeCompare([]byte(secret), []byte(s.client.secret)) != 1 {
		return errors.New("devidp: wrong client credentials")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in op; SetUserinfoFromRequest does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(ctx, info, req.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || !s.now().Before(t.expires) {
		return errNotFound
	}
	return s.setUserinfo(ctx, info, subject, t.scopes)
}

func (s *storage) setUserinfo(ctx context.Context, info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.userBySubject(ctx, subject)
	if !ok {
		return errNotFound
	}
	info.Subject = u.Subject
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
		// oidc.UserInfo omits a false email_verified; the portal's negative
		// tests need it stated.
		info.AppendClaims("email_verified", u.EmailVerified)
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
	}
	if u.HostedDomain != "" {
		info.AppendClaims("hd", u.HostedDomain)
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || clientID != s.client.id || !s.now().Before(t.expires) {
		return errNotFound
	}
	resp.Active, resp.Subject, resp.ClientID, resp.Scope = true, subject, clientID, t.scopes
	resp.Expiration = oidc.FromTime(t.expires)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("devidp: JWT profile is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("devidp: JWT profile is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is one authorization request from /authorize to the token
// exchange.
type authRequest struct {
	id           string
	created      time.Time
	clientID     string
	redirectURI  string
	scopes       []string
	state        string
	nonce        string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	loginHint    string
	prompt       []string
	challenge    *oidc.CodeChallenge
	subject      string
	authTime     time.Time
	done         bool
	code         string
}

func (r *authRequest) expired(now time.Time) bool {
	return !now.Before(r.created.Add(authRequestLifetime))
}

func (r *authRequest) GetID() string                         { return r.id }
func (r *authRequest) GetACR() string                        { return "" }
func (r *authRequest) GetAMR() []string                      { return nil }
func (r *authRequest) GetAudience() []string                 { return []string{r.clientID} }
func (r *authRequest) GetAuthTime() time.Time                { return r.authTime }
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.challenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.responseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.responseMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.subject }
func (r *authRequest) Done() bool                            { return r.done }

// client is the portal: a confidential web client using the code flow.
type client struct {
	id           string
	secret       string
	redirectURIs []string
	loginURL     string // "<issuer>/login"
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string {
	return c.loginURL + "?authRequestID=" + url.QueryEscape(id)
}
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return idTokenLifetime }
func (c *client) DevMode() bool                       { return false }
func (c *client) IsScopeAllowed(string) bool          { return false }
func (c *client) ClockSkew() time.Duration            { return 0 }

// IDTokenUserinfoClaimsAssertion puts email, name and hd in the ID token
// itself, as Google does, rather than only at the userinfo endpoint.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// rsaKey is the provider's one signing key (op.SigningKey).
type rsaKey struct {
	id   string
	priv *rsa.PrivateKey
}

func (k *rsaKey) ID() string                                  { return k.id }
func (k *rsaKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *rsaKey) Key() any                                    { return k.priv }

// publicKey is the half of rsaKey published at the JWKS endpoint (op.Key).
type publicKey struct{ k *rsaKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.priv.PublicKey }
