package secrets

import (
	"github.com/djangostack/infra/components/runtime"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args are the inputs of the Secrets component.
type Args struct {
	// Rotation regenerates each secret whose revision changes.
	Rotation Rotation
}

// Rotation names a revision of each generated secret. The secrets last as
// long as the stack; changing a revision (any new value, such as a date)
// generates that secret anew on the next deploy.
type Rotation struct {
	// Postgres is the revision of the application role's database password.
	Postgres Revision `json:"postgres"`
	// PostgresSuperuser is the revision of the database superuser's
	// password, which only the password step and the backups use.
	PostgresSuperuser Revision `json:"postgresSuperuser"`
	// Redis is the revision of the Redis password.
	Redis Revision `json:"redis"`
	// SecretKey is the revision of Django's SECRET_KEY.
	SecretKey Revision `json:"secretKey"`
}

// Revision is any text that names a revision: a date, a number, a word.
// `pulumi config set --path rotation.postgres 2` stores the number 2, which
// reads as "2".
type Revision string

func (r Revision) MarshalText() ([]byte, error) { return []byte(r), nil }

func (r *Revision) UnmarshalText(b []byte) error {
	*r = Revision(b)
	return nil
}

// Secrets are the deployment's generated credentials. They live only in the
// stack's encrypted state: never in a config file, never in a plain output.
type Secrets struct {
	pulumi.ResourceState

	// DatabasePassword is the Postgres application role's password:
	// 32 letters and digits, safe in a connection URL.
	DatabasePassword pulumi.StringOutput
	// SuperuserPassword is the Postgres superuser's password, for the
	// password step, the backups and restores only: 32 letters and digits.
	SuperuserPassword pulumi.StringOutput
	// RedisPassword is Redis's requirepass: 32 letters and digits, safe in a
	// connection URL and in a config file line.
	RedisPassword pulumi.StringOutput
	// DjangoSecretKey is Django's SECRET_KEY: 50 characters from Django's own
	// alphabet without '$', which shells and Compose files would expand.
	DjangoSecretKey pulumi.StringOutput
}

// secretKeySpecials are the punctuation of Django's get_random_secret_key
// alphabet, less '$'.
const secretKeySpecials = "!@#%^&*(-_=+)"

// New generates the deployment's credentials.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Secrets, error) {
	if args == nil {
		args = &Args{}
	}
	c := &Secrets{}
	if err := ctx.RegisterComponentResource(runtime.TypePrefix+"Secrets", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	generate := func(suffix string, revision Revision, pw *random.RandomPasswordArgs) (pulumi.StringOutput, error) {
		if revision != "" {
			// A keeper: a new value replaces the password.
			pw.Keepers = pulumi.StringMap{"revision": pulumi.String(string(revision))}
		}
		r, err := random.NewRandomPassword(ctx, name+"-"+suffix, pw, parent)
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		// Result is a secret already; saying so again keeps it one even under
		// mocks and through every value derived from it.
		return pulumi.ToSecret(r.Result).(pulumi.StringOutput), nil
	}
	alphanumeric := func(length int) *random.RandomPasswordArgs {
		return &random.RandomPasswordArgs{Length: pulumi.Int(length), Special: pulumi.Bool(false)}
	}
	var err error
	r := args.Rotation
	if c.DatabasePassword, err = generate("postgres-password", r.Postgres, alphanumeric(32)); err != nil {
		return nil, err
	}
	if c.SuperuserPassword, err = generate("postgres-superuser-password", r.PostgresSuperuser, alphanumeric(32)); err != nil {
		return nil, err
	}
	if c.RedisPassword, err = generate("redis-password", r.Redis, alphanumeric(32)); err != nil {
		return nil, err
	}
	if c.DjangoSecretKey, err = generate("django-secret-key", r.SecretKey, &random.RandomPasswordArgs{
		Length:          pulumi.Int(50),
		Special:         pulumi.Bool(true),
		OverrideSpecial: pulumi.String(secretKeySpecials),
	}); err != nil {
		return nil, err
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"databasePassword":  c.DatabasePassword,
		"superuserPassword": c.SuperuserPassword,
		"redisPassword":     c.RedisPassword,
		"djangoSecretKey":   c.DjangoSecretKey,
	})
}
