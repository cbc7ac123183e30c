//! Command-line units of `report`'s flags (`--bytes 256MiB`).

/// "1GiB" as 1 << 30: a number of bytes with an optional binary unit (K,
/// M, G or KiB, MiB, GiB), for clap's `value_parser`.
///
/// # Errors
///
/// A message naming the text if it is not such a size or overflows.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a size such as 1GiB or 65536"))?;
    let unit: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?}: use K, M, G, KiB, MiB or GiB"
            ))
        }
    };
    number
        .checked_mul(unit)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1TB").is_err());
        assert!(parse_size("x").is_err());
    }
}
