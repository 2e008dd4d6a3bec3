package units

// A boolean is spelt in three ways by the servers and files the stack
// writes; each has its function here.

// OnOff is a boolean as nginx's directives and Cloudflare's zone settings
// spell it: on, off.
func OnOff(b bool) string { return spell(b, "on", "off") }

// YesNo is a boolean as Redis's settings spell it: yes, no.
func YesNo(b bool) string { return spell(b, "yes", "no") }

// PythonBool is a boolean as Python spells it, the way the guide's env
// files do: True, False.
func PythonBool(b bool) string { return spell(b, "True", "False") }

func spell(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
