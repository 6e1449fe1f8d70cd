//! S3's XML: writing responses (plain string building) and reading the few request bodies
//! (`DeleteObjects`, `CompleteMultipartUpload`, `CreateBucket`) into a small element tree.

use quick_xml::Reader;
use quick_xml::events::Event;

pub(super) const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
pub(super) const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The opening tag of a response's root element, with the S3 namespace.
pub(super) fn open_root(out: &mut String, name: &str) {
    out.push_str(DECLARATION);
    out.push('<');
    out.push_str(name);
    out.push_str(" xmlns=\"");
    out.push_str(NAMESPACE);
    out.push_str("\">");
}

/// `<name>text</name>`, escaped.
pub(super) fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

pub(super) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 text; S3 keys may hold them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// An element of a request body: its local name, its text, its children.
#[derive(Debug, Default)]
pub(super) struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub(super) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(super) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub(super) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// The deepest nesting accepted; S3 bodies are three levels deep.
const MAX_DEPTH: usize = 16;

/// A request body that is not well-formed XML (S3's `MalformedXML`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MalformedXml;

/// Parses a request body into its root element. Namespaces are ignored (matched by local name).
pub(super) fn parse(body: &[u8]) -> Result<Element, MalformedXml> {
    let text = std::str::from_utf8(body).map_err(|_| MalformedXml)?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|_| MalformedXml)?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH || root.is_some() {
                    return Err(MalformedXml);
                }
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let element = Element {
                    name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err(MalformedXml),
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or(MalformedXml)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    let text = text.decode().map_err(|_| MalformedXml)?;
                    current.text.push_str(&text);
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    let text = data.decode().map_err(|_| MalformedXml)?;
                    current.text.push_str(&text);
                }
            }
            Event::GeneralRef(reference) => {
                let Some(current) = stack.last_mut() else {
                    continue;
                };
                if let Some(c) = reference.resolve_char_ref().map_err(|_| MalformedXml)? {
                    current.text.push(c);
                } else {
                    let name = reference.decode().map_err(|_| MalformedXml)?;
                    let resolved =
                        quick_xml::escape::resolve_predefined_entity(&name).ok_or(MalformedXml)?;
                    current.text.push_str(resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    match (root, stack.is_empty()) {
        (Some(root), true) => Ok(root),
        _ => Err(MalformedXml),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text() {
        let mut out = String::new();
        element(&mut out, "Key", "a<b>&\"c'\u{1}");
        assert_eq!(out, "<Key>a&lt;b&gt;&amp;&quot;c&apos;&#x1;</Key>");
    }

    #[test]
    fn parses_a_delete_body() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Object><Key>a &amp; b&#x41;</Key></Object>
              <Object><Key><![CDATA[c<d]]></Key><VersionId/></Object>
              <Quiet>true</Quiet>
            </Delete>"#;
        let root = parse(body).unwrap();
        assert_eq!(root.name, "Delete");
        let keys: Vec<_> = root
            .children("Object")
            .filter_map(|o| o.child_text("Key"))
            .collect();
        assert_eq!(keys, ["a & bA", "c<d"]);
        assert_eq!(root.child_text("Quiet"), Some("true"));
    }

    #[test]
    fn rejects_malformed_bodies() {
        for body in [&b"<a><b></a>"[..], b"<a></a><b></b>", b"", b"<a>&nope;</a>"] {
            assert_eq!(parse(body).unwrap_err(), MalformedXml);
        }
    }
}
