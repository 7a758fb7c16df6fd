package devidp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	codeLifetime        = time.Minute // from the login to the token exchange
	accessTokenLifetime = 5 * time.Minute
	idTokenLifetime     = 5 * time.Minute
)

var errNotFound = errors.New("devidp: not found or expired")

// storage is the op.Storage. It keeps no auth request, code or access
// token of its own: each is sealed (AES-GCM) into the id or token it is
// known by, under keys derived from the provider's secret, so that
// replicas given the same secret answer each other's requests. What it
// keeps is the set of auth requests already signed in and codes already
// exchanged, so that each is used once on this replica; a code also
// expires a minute after the login, and the portal consumes its own login
// state once, so a code replayed at another replica finds nothing to
// complete.
type storage struct {
	now    func() time.Time
	client *client
	users  []User
	dir    func(context.Context) ([]User, error) // more users, read each time; may be nil
	key    *signingKey
	seal   cipher.AEAD
	crypto op.Crypto // op's, which wraps codes; set by newHandler

	mu   sync.Mutex
	used map[[32]byte]time.Time // consumed ids → when they would have expired anyway
}

type accessToken struct {
	Subject string    `json:"sub"`
	Scopes  []string  `json:"scp"`
	Expires time.Time `json:"exp"`
}

func newStorage(c *client, users []User, dir func(context.Context) ([]User, error), k keys, now func() time.Time) (*storage, error) {
	block, err := aes.NewCipher(k.seal)
	if err != nil {
		return nil, err
	}
	seal, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &storage{
		now:    now,
		client: c,
		users:  slices.Clone(users),
		dir:    dir,
		key:    k.signing,
		seal:   seal,
		used:   make(map[[32]byte]time.Time),
	}, nil
}

// Labels bind a sealed value to its kind, so an access token is never
// taken for an auth request.
const (
	labelRequest = "devidp auth request"
	labelToken   = "devidp access token" // #nosec G101 -- a label bound to sealed values, not a credential
)

// sealJSON encrypts v as JSON into a URL-safe string.
func (s *storage) sealJSON(label string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.seal.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.seal.Seal(nonce, nonce, plain, []byte(label))), nil
}

// openJSON decrypts what sealJSON made into v.
func (s *storage) openJSON(label, sealed string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.seal.NonceSize() {
		return errNotFound
	}
	n := s.seal.NonceSize()
	plain, err := s.seal.Open(nil, raw[:n], raw[n:], []byte(label))
	if err != nil {
		return errNotFound
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return errNotFound
	}
	return nil
}

// consume marks id used until until; false when it was used already.
func (s *storage) consume(id string, until time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, exp := range s.used {
		if !now.Before(exp) {
			delete(s.used, k)
		}
	}
	k := sha256.Sum256([]byte(id))
	if _, ok := s.used[k]; ok {
		return false
	}
	s.used[k] = until
	return true
}

// request opens a live auth request.
func (s *storage) request(id string) (*authRequest, error) {
	r := &authRequest{id: id}
	if err := s.openJSON(labelRequest, id, &r.requestState); err != nil || r.expired(s.now()) {
		return nil, errNotFound
	}
	return r, nil
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

// pendingRequest returns an auth request still waiting for a login.
func (s *storage) pendingRequest(id string) (*authRequest, error) {
	r, err := s.request(id)
	if err != nil || r.done() {
		return nil, errNotFound
	}
	return r, nil
}

// completeLogin signs the user in for one auth request, now, and returns
// the id of the signed-in request: there are no sessions here, so every
// login is a new authentication and auth_time is its time (unless the
// user is set up to say otherwise). A request is signed in once.
func (s *storage) completeLogin(id string, u User) (string, error) {
	r, err := s.pendingRequest(id)
	if err != nil || !s.consume(id, r.Created.Add(authRequestLifetime)) {
		return "", errNotFound
	}
	now := s.now()
	r.Subject, r.AuthTime, r.Completed = u.Subject, now.Add(-u.AuthAge), now
	if u.OmitAuthTime {
		r.AuthTime = time.Time{} // op leaves out a zero auth_time
	}
	return s.sealJSON(labelRequest, r.requestState)
}

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	r := &authRequest{requestState: requestState{
		Created:      s.now(),
		ClientID:     req.ClientID,
		RedirectURI:  req.RedirectURI,
		Scopes:       slices.Clone(req.Scopes),
		State:        req.State,
		Nonce:        req.Nonce,
		ResponseType: req.ResponseType,
		ResponseMode: req.ResponseMode,
		LoginHint:    req.LoginHint,
		Prompt:       slices.Clone(req.Prompt),
	}}
	if req.CodeChallenge != "" {
		r.Challenge = &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}
	}
	var err error
	if r.id, err = s.sealJSON(labelRequest, r.requestState); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	return s.request(id)
}

// AuthRequestByCode opens the signed-in auth request a code wraps and
// consumes it: a second exchange of it on this replica fails even if the
// first one has not finished, and every exchange fails a minute after the
// login.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	id, err := s.crypto.Decrypt(code)
	if err != nil {
		return nil, errNotFound
	}
	r, err := s.request(id)
	if err != nil || !r.done() || !s.now().Before(r.Completed.Add(codeLifetime)) {
		return nil, errNotFound
	}
	// Keyed by the request, not the code: each visit of the callback
	// wraps the same request in a new code.
	if !s.consume("code:"+id, r.Completed.Add(codeLifetime)) {
		return nil, errNotFound
	}
	return r, nil
}

// SaveAuthCode stores nothing: the code wraps the signed-in request. It
// refuses a request that is not signed in or whose code time is over.
func (s *storage) SaveAuthCode(_ context.Context, id, _ string) error {
	r, err := s.request(id)
	if err != nil || !r.done() || !s.now().Before(r.Completed.Add(codeLifetime)) {
		return errNotFound
	}
	return nil
}

// DeleteAuthRequest has nothing to delete; AuthRequestByCode consumed it.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	t := accessToken{Subject: req.GetSubject(), Scopes: slices.Clone(req.GetScopes()), Expires: s.now().Add(accessTokenLifetime)}
	id, err := s.sealJSON(labelToken, t)
	return id, t.Expires, err
}

// token opens a live access token of subject that this replica has not
// seen revoked.
func (s *storage) token(id, subject string) (accessToken, error) {
	var t accessToken
	if err := s.openJSON(labelToken, id, &t); err != nil || t.Subject != subject || !s.now().Before(t.Expires) {
		return accessToken{}, errNotFound
	}
	s.mu.Lock()
	_, revoked := s.used[sha256.Sum256([]byte("token:"+id))]
	s.mu.Unlock()
	if revoked {
		return accessToken{}, errNotFound
	}
	return t, nil
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

// RevokeToken forgets the token on this replica (it expires in minutes
// everywhere).
func (s *storage) RevokeToken(_ context.Context, tokenID, _, _ string) *oidc.Error {
	s.consume("token:"+tokenID, s.now().Add(accessTokenLifetime))
	return nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
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
	t, err := s.token(tokenID, subject)
	if err != nil {
		return err
	}
	return s.setUserinfo(ctx, info, subject, t.Scopes)
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
	t, err := s.token(tokenID, subject)
	if err != nil || clientID != s.client.id {
		return errNotFound
	}
	resp.Active, resp.Subject, resp.ClientID, resp.Scope = true, subject, clientID, t.Scopes
	resp.Expiration = oidc.FromTime(t.Expires)
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
// exchange: its state, and the id that state is sealed into.
type authRequest struct {
	id string
	requestState
}

// requestState is what an auth request knows, sealed into its id.
type requestState struct {
	Created      time.Time           `json:"created"`
	ClientID     string              `json:"client_id"`
	RedirectURI  string              `json:"redirect_uri"`
	Scopes       []string            `json:"scopes"`
	State        string              `json:"state"`
	Nonce        string              `json:"nonce"`
	ResponseType oidc.ResponseType   `json:"response_type"`
	ResponseMode oidc.ResponseMode   `json:"response_mode"`
	LoginHint    string              `json:"login_hint"`
	Prompt       []string            `json:"prompt"`
	Challenge    *oidc.CodeChallenge `json:"challenge"`
	Subject      string              `json:"sub"`
	AuthTime     time.Time           `json:"auth_time"`
	Completed    time.Time           `json:"completed"` // when the login was done; zero while pending
}

func (r *authRequest) done() bool { return !r.Completed.IsZero() }

func (r *authRequest) expired(now time.Time) bool {
	return !now.Before(r.Created.Add(authRequestLifetime))
}

func (r *authRequest) GetID() string                         { return r.id }
func (r *authRequest) GetACR() string                        { return "" }
func (r *authRequest) GetAMR() []string                      { return nil }
func (r *authRequest) GetAudience() []string                 { return []string{r.ClientID} }
func (r *authRequest) GetAuthTime() time.Time                { return r.AuthTime }
func (r *authRequest) GetClientID() string                   { return r.ClientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.Challenge }
func (r *authRequest) GetNonce() string                      { return r.Nonce }
func (r *authRequest) GetRedirectURI() string                { return r.RedirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.ResponseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.ResponseMode }
func (r *authRequest) GetScopes() []string                   { return r.Scopes }
func (r *authRequest) GetState() string                      { return r.State }
func (r *authRequest) GetSubject() string                    { return r.Subject }
func (r *authRequest) Done() bool                            { return r.done() }

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

// signingKey is the provider's one signing key (op.SigningKey): ES256,
// derived from the provider's secret, so every replica signs with it.
type signingKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

func (k *signingKey) ID() string                                  { return k.id }
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *signingKey) Key() any                                    { return k.priv }

// publicKey is the half of signingKey published at the JWKS endpoint (op.Key).
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.priv.PublicKey }
