package components

import (
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SecretsArgs are the inputs of the Secrets component.
type SecretsArgs struct {
	// Keepers regenerate every secret when any value changes; leave empty to
	// keep the secrets for the life of the stack.
	Keepers map[string]string
}

// Secrets are the deployment's generated credentials. They live only in the
// stack's encrypted state: never in a config file, never in a plain output.
type Secrets struct {
	pulumi.ResourceState

	// DatabasePassword is the Postgres application user's password:
	// 32 letters and digits, safe in a connection URL.
	DatabasePassword pulumi.StringOutput
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

// NewSecrets generates the deployment's credentials.
func NewSecrets(ctx *pulumi.Context, name string, args *SecretsArgs, opts ...pulumi.ResourceOption) (*Secrets, error) {
	if args == nil {
		args = &SecretsArgs{}
	}
	c := &Secrets{}
	if err := ctx.RegisterComponentResource(typePrefix+"Secrets", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	generate := func(suffix string, pw *random.RandomPasswordArgs) (pulumi.StringOutput, error) {
		if len(args.Keepers) > 0 {
			pw.Keepers = pulumi.ToStringMap(args.Keepers)
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
	if c.DatabasePassword, err = generate("postgres-password", alphanumeric(32)); err != nil {
		return nil, err
	}
	if c.RedisPassword, err = generate("redis-password", alphanumeric(32)); err != nil {
		return nil, err
	}
	if c.DjangoSecretKey, err = generate("django-secret-key", &random.RandomPasswordArgs{
		Length:          pulumi.Int(50),
		Special:         pulumi.Bool(true),
		OverrideSpecial: pulumi.String(secretKeySpecials),
	}); err != nil {
		return nil, err
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"databasePassword": c.DatabasePassword,
		"redisPassword":    c.RedisPassword,
		"djangoSecretKey":  c.DjangoSecretKey,
	})
}
