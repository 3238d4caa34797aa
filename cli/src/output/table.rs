//! Aligned plain-text tables.

/// Columns padded to the widest cell; two spaces between columns; no trailing blanks.
pub fn columns(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(cell));
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    push_line(&mut out, &widths, &header);
    for row in rows {
        push_line(&mut out, &widths, row);
    }
    out
}

/// `KEY  value` lines, keys padded to the widest.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let key_width = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(k);
        out.push_str(&" ".repeat(key_width - width(k) + 2));
        out.push_str(v);
        out.push('\n');
    }
    out
}

fn push_line(out: &mut String, widths: &[usize], cells: &[String]) {
    let mut line = String::new();
    for (i, w) in widths.iter().enumerate() {
        let cell = cells.get(i).map(String::as_str).unwrap_or("");
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        line.push_str(&" ".repeat(w - width(cell)));
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

fn width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["a1".to_string(), "x".to_string(), "long value".to_string()],
            vec!["b".to_string(), "yyyy".to_string(), "-".to_string()],
        ];
        assert_eq!(
            columns(&["ID", "NAME", "CIDRS"], &rows),
            "ID  NAME  CIDRS\n\
             a1  x     long value\n\
             b   yyyy  -\n"
        );
        assert_eq!(columns(&["ID", "NAME"], &[]), "ID  NAME\n");
    }

    #[test]
    fn aligns_key_values() {
        let pairs = vec![("id", "1".to_string()), ("mac_address", "m".to_string())];
        assert_eq!(key_values(&pairs), "id           1\nmac_address  m\n");
    }
}
