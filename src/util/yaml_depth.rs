//! A bound on the nesting depth of a YAML document, checked on the raw text in
//! one linear pass before any parser sees it: the YAML parsers' time grows
//! quadratically with depth (a 40,000-level document took 14.5 s to refuse).

/// Deepest nesting a YAML document may have (block and flow levels together).
pub const MAX_YAML_DEPTH: usize = 256;

/// A document nested deeper than [`MAX_YAML_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("YAML nested more than {max} levels deep")]
pub struct TooDeep {
    /// The limit that was exceeded.
    pub max: usize,
    /// 1-based line where the limit was first exceeded.
    pub line: usize,
}

/// Checks that `text` nests at most `max` levels deep, in time linear in its
/// length. The count is conservative (it may count a level the parser would
/// not, never the reverse): indentation levels, compact `- ` entries, and
/// `[` / `{` outside quoted strings, comments and block scalars.
///
/// # Errors
/// [`TooDeep`] with the line where the depth first exceeds `max`.
pub fn check_depth(text: &str, max: usize) -> Result<(), TooDeep> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    // A block scalar (`|` / `>`): lines indented more than this are its text.
    let mut scalar_of: Option<usize> = None;
    for (n, line) in text.split('\n').enumerate() {
        let b = line.as_bytes();
        let indent = b.iter().take_while(|c| **c == b' ').count();
        let blank = b[indent..].iter().all(|c| c.is_ascii_whitespace());
        if let Some(parent) = scalar_of {
            if blank || indent > parent {
                continue;
            }
            scalar_of = None;
        }
        if quote.is_none() && flow == 0 {
            if blank || b[indent] == b'#' {
                continue;
            }
            while indents.last().is_some_and(|top| *top >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let mut compact = 0usize;
        let mut prev = b' ';
        let mut i = if quote.is_none() && flow == 0 { indent } else { 0 };
        while i < b.len() {
            let c = b[i];
            match quote {
                Some(q) => {
                    if c == b'\\' && q == b'"' {
                        i += 1;
                    } else if c == q {
                        if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            quote = None;
                        }
                    }
                }
                None => {
                    let at_token = matches!(prev, b' ' | b'\t' | b'[' | b'{' | b',' | b':' | b'-' | b'?');
                    match c {
                        b'#' if matches!(prev, b' ' | b'\t') => break,
                        b'"' | b'\'' if at_token || flow > 0 || i == 0 => quote = Some(c),
                        b'[' | b'{' => flow += 1,
                        b']' | b'}' => flow = flow.saturating_sub(1),
                        b'-' | b'?' if at_token && matches!(b.get(i + 1), None | Some(b' ' | b'\t')) => compact += 1,
                        _ => {}
                    }
                }
            }
            prev = c;
            i += 1;
            let depth = indents.len() + compact + flow;
            if depth > max {
                return Err(TooDeep { max, line: n + 1 });
            }
        }
        // `key: |` / `- >-2` etc.: the more-indented lines below are text.
        if quote.is_none() && flow == 0 {
            let t = line.split(" #").next().unwrap_or("").trim_end();
            let head = t.trim_end_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit());
            if (head.ends_with('|') || head.ends_with('>'))
                && (head.len() == 1 || head[..head.len() - 1].ends_with([' ', ':', '-']))
            {
                scalar_of = Some(indent);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let doc = "a:\n  b:\n    - c: [1, {d: \"[[[[\"}]\n      e: |\n        [[[[ { {\n          deeper: text\n    - 'it''s [ fine'\n# [[[[\n";
        assert_eq!(check_depth(doc, 8), Ok(()));
        assert_eq!(check_depth("", 1), Ok(()));
    }

    #[test]
    fn deep_flow_and_block_nesting_is_refused_with_its_line() {
        let flow = format!("x:\n  {}{}", "[".repeat(300), "]".repeat(300));
        assert_eq!(check_depth(&flow, 256), Err(TooDeep { max: 256, line: 2 }));
        let block: String = (0..300).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(check_depth(&block, 256).unwrap_err().line, 257);
        let compact = format!("{}x\n", "- ".repeat(300));
        assert!(check_depth(&compact, 256).is_err());
        // Closing brackets hidden in strings do not lower the count.
        let hidden = format!("{}{}", "[\"]\", ".repeat(300), "]".repeat(300));
        assert!(check_depth(&hidden, 256).is_err());
    }

    #[test]
    fn a_forty_thousand_level_document_is_refused_fast() {
        let doc = format!("{}{}", "[".repeat(40_000), "]".repeat(40_000));
        let start = std::time::Instant::now();
        assert!(check_depth(&doc, MAX_YAML_DEPTH).is_err());
        assert!(start.elapsed() < std::time::Duration::from_millis(200));
    }
}
