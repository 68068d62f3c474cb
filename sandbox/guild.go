package sandbox

// ValidateGuildID checks that id is a Discord snowflake: 17 to 20 decimal digits.
func ValidateGuildID(id string) error {
	if len(id) < 17 || len(id) > 20 || id[0] == '0' {
		return Errorf(CodeInvalidGuild, "guild id %.30q is not a Discord snowflake (17-20 digits)", id)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return Errorf(CodeInvalidGuild, "guild id %.30q is not a Discord snowflake (17-20 digits)", id)
		}
	}
	return nil
}
