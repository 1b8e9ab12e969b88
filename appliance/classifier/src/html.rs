//! What the classifier needs of an HTML part, in one pass: its visible
//! text, the tags used, the links with their text, and the tricks spam
//! plays to hide words. Not a browser: malformed markup just yields less.

/// One `<a href>` and the text it shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// The `href` value.
    pub href: String,
    /// The text between `<a>` and `</a>`.
    pub text: String,
}

/// An HTML part read for classification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Html {
    /// The text a reader sees, tags removed and entities decoded.
    pub text: String,
    /// Lowercase tag names, in order, repeats included.
    pub tags: Vec<String>,
    /// Links with their text.
    pub links: Vec<Link>,
    /// `src` of `<img>` tags.
    pub images: usize,
    /// White or tiny fonts, `display:none`, `visibility:hidden`.
    pub hidden_text: bool,
    /// Letters written as `&#NN;` entities.
    pub numeric_entities: usize,
    /// `<form>`, `<script>`, `<iframe>` or `<object>`.
    pub active_content: bool,
}

/// Most bytes of one part read; the rest of a huge part adds nothing.
const MAX_HTML: usize = 256 * 1024;

/// Reads `source`.
pub fn read(source: &str) -> Html {
    let source = truncate(source, MAX_HTML);
    let mut html = Html::default();
    let mut rest = source;
    let mut skip_until: Option<&'static str> = None;
    let mut open_link: Option<Link> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            text(rest, &mut html, &mut open_link, skip_until.is_some());
            break;
        };
        text(&rest[..lt], &mut html, &mut open_link, skip_until.is_some());
        rest = &rest[lt + 1..];
        if let Some(r) = rest.strip_prefix("!--") {
            rest = r.find("-->").map_or("", |e| &r[e + 3..]);
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        let closing = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name_end = body
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(body.len());
        let name = body[..name_end].to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let attrs = &body[name_end..];
        if let Some(until) = skip_until {
            if closing && name == until {
                skip_until = None;
            }
            continue;
        }
        if closing {
            if name == "a" {
                if let Some(link) = open_link.take() {
                    html.links.push(link);
                }
            }
            if matches!(name.as_str(), "p" | "div" | "td" | "tr" | "li" | "table") {
                html.text.push('\n');
            }
            continue;
        }
        match name.as_str() {
            "style" => skip_until = Some("style"),
            "script" => {
                html.active_content = true;
                skip_until = Some("script");
            }
            "form" | "iframe" | "object" | "embed" => html.active_content = true,
            "a" => {
                if let Some(link) = open_link.take() {
                    html.links.push(link);
                }
                if let Some(href) = attribute(attrs, "href") {
                    open_link = Some(Link {
                        href: decode_entities(href, &mut 0),
                        text: String::new(),
                    });
                }
            }
            "img" => html.images += 1,
            "br" | "p" | "div" | "tr" | "li" => html.text.push('\n'),
            _ => {}
        }
        if hides_text(&name, attrs) {
            html.hidden_text = true;
        }
        if html.tags.len() < 4096 {
            html.tags.push(name);
        }
    }
    if let Some(link) = open_link.take() {
        html.links.push(link);
    }
    html
}

fn text(raw: &str, html: &mut Html, link: &mut Option<Link>, skipped: bool) {
    if skipped || raw.is_empty() {
        return;
    }
    let decoded = decode_entities(raw, &mut html.numeric_entities);
    if let Some(link) = link {
        if link.text.len() < 1024 {
            link.text.push_str(&decoded);
        }
    }
    html.text.push_str(&decoded);
}

/// The value of attribute `name` in a tag's attribute text.
fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value_at = attrs.len() - after.len() + 1;
        let value = attrs[value_at..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let v = &value[1..];
                &v[..v.find(q).unwrap_or(v.len())]
            }
            _ => &value[..value.find(char::is_whitespace).unwrap_or(value.len())],
        });
    }
    None
}

fn hides_text(tag: &str, attrs: &str) -> bool {
    if attrs.is_empty() {
        return false;
    }
    let a = attrs.to_ascii_lowercase().replace(' ', "");
    if a.contains("display:none") || a.contains("visibility:hidden") || a.contains("font-size:0") {
        return true;
    }
    if tag == "font" {
        if let Some(size) = attribute(&a, "size") {
            if matches!(size, "0" | "1" | "-2" | "-3") {
                return true;
            }
        }
        if let Some(color) = attribute(&a, "color") {
            return matches!(color, "white" | "#ffffff" | "#fff" | "ffffff" | "#fffffe");
        }
    }
    false
}

/// Decodes the common named and all numeric entities, counting the numeric
/// ones that spell letters or digits.
fn decode_entities(raw: &str, numeric: &mut usize) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map_or(rest.len(), |e| e + 1);
        let entity = &rest[1..end];
        let decoded = if let Some(num) = entity.strip_prefix('#') {
            let value = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            value.and_then(char::from_u32).inspect(|c| {
                if c.is_ascii_alphanumeric() {
                    *numeric += 1;
                }
            })
        } else {
            match entity.to_ascii_lowercase().as_str() {
                "nbsp" => Some(' '),
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "copy" => Some('©'),
                "reg" => Some('®'),
                _ => None,
            }
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = rest[end..].strip_prefix(';').unwrap_or(&rest[end..]);
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_links_and_tricks() {
        let h = read(
            "<html><style>p{color:red}</style><body><p>Buy <b>n&#111;w</b>&nbsp;!</p>\
             <a href=\"http://1.2.3.4/x\">www.bank.test</a><img src=x>\
             <font color=#FFFFFF>hidden words</font><!-- <a href=no> --><script>evil()</script></body>",
        );
        assert!(h.text.contains("Buy now !"), "{:?}", h.text);
        assert!(!h.text.contains("color:red") && !h.text.contains("evil"));
        assert_eq!(
            h.links,
            vec![Link {
                href: "http://1.2.3.4/x".into(),
                text: "www.bank.test".into()
            }]
        );
        assert_eq!((h.images, h.numeric_entities), (1, 1));
        assert!(h.hidden_text && h.active_content);
        assert!(h.tags.contains(&"font".to_string()));
    }

    #[test]
    fn broken_markup_yields_what_it_can() {
        let h = read("a < b and <a href='x");
        assert!(h.text.starts_with("a "));
        let h = read("&#99999999; &unknown; &");
        assert!(h.text.contains("&unknown;"));
    }
}
