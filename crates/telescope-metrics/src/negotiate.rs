//! Reading the weighted lists of `Accept` and `Accept-Encoding` (RFC 9110 §12.4.2).

/// Each item of `header` as `(value, quality)`: `quality` from its `q=` parameter (1 when
/// absent, 0 when it is not a number in `0..=1`, so a malformed weight never selects).
pub(crate) fn weighted(header: &str) -> impl Iterator<Item = (&str, f32)> {
    header.split(',').filter_map(|item| {
        let mut parts = item.split(';');
        let value = parts.next()?.trim();
        if value.is_empty() {
            return None;
        }
        let quality = parts
            .find_map(|parameter| {
                let (name, weight) = parameter.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| weight.trim().parse::<f32>().ok())
            })
            .map_or(1.0, |weight| match weight {
                Some(q) if (0.0..=1.0).contains(&q) => q,
                _ => 0.0,
            });
        Some((value, quality))
    })
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    #[test]
    fn qualities_default_to_one_and_malformed_ones_to_zero() {
        let items: Vec<_> =
            weighted("gzip;q=0.5, br ,identity;q=0, x;Q=1, y;q=abc, z;q=2,,").collect();
        assert_eq!(
            items,
            [
                ("gzip", 0.5),
                ("br", 1.0),
                ("identity", 0.0),
                ("x", 1.0),
                ("y", 0.0),
                ("z", 0.0)
            ]
        );
    }
}
