//! What a file really is, from its first bytes, whatever its name says:
//! an executable named `.pdf` is still an executable.

/// A file's real type, as far as mail filtering cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// Windows PE (`MZ` with a `PE\0\0` header).
    WindowsExecutable,
    /// ELF.
    LinuxExecutable,
    /// Mach-O (thin or universal).
    MacExecutable,
    /// A script run by the interpreter its first line names (`#!`).
    Script,
    /// OLE2 compound file: old Office documents, MSI.
    Ole2,
    /// Zip (also OOXML, ODF, JAR).
    Zip,
    /// PDF.
    Pdf,
    /// Anything else.
    Other,
}

impl FileType {
    /// Detects the type of `data`.
    pub fn of(data: &[u8]) -> FileType {
        if is_pe(data) {
            FileType::WindowsExecutable
        } else if data.starts_with(b"\x7fELF") {
            FileType::LinuxExecutable
        } else if is_mach_o(data) {
            FileType::MacExecutable
        } else if data.starts_with(b"#!") {
            FileType::Script
        } else if data.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
            FileType::Ole2
        } else if data.starts_with(b"PK\x03\x04") {
            FileType::Zip
        } else if data.starts_with(b"%PDF-") {
            FileType::Pdf
        } else {
            FileType::Other
        }
    }

    /// Runs as a program when opened.
    pub fn is_executable(self) -> bool {
        matches!(
            self,
            FileType::WindowsExecutable
                | FileType::LinuxExecutable
                | FileType::MacExecutable
                | FileType::Script
        )
    }

    /// The ClamAV `.ndb` target number of this type, if it has one.
    pub fn clamav_target(self) -> Option<u8> {
        match self {
            FileType::WindowsExecutable => Some(1),
            FileType::Ole2 => Some(2),
            FileType::LinuxExecutable => Some(6),
            FileType::MacExecutable => Some(9),
            FileType::Pdf => Some(10),
            _ => None,
        }
    }
}

fn is_pe(data: &[u8]) -> bool {
    if !data.starts_with(b"MZ") || data.len() < 0x40 {
        return false;
    }
    let at = u32::from_le_bytes([data[0x3c], data[0x3d], data[0x3e], data[0x3f]]) as usize;
    data.get(at..at.saturating_add(4)) == Some(b"PE\0\0")
}

fn is_mach_o(data: &[u8]) -> bool {
    const THIN: [[u8; 4]; 4] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
    ];
    let Some(head) = data.get(..8) else {
        return false;
    };
    if THIN.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    // Universal binaries share CAFEBABE with Java classes; a Java class
    // has a version number where a universal binary has a small arch count.
    head.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
        && u32::from_be_bytes([head[4], head[5], head[6], head[7]]) < 20
}

/// Office documents carrying macros: an OLE2 file with a VBA project
/// (`_VBA_PROJECT` stream), or the name of an OOXML part holding one.
pub fn has_ole2_macros(data: &[u8]) -> bool {
    const VBA_UTF16: &[u8] = b"_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0";
    FileType::of(data) == FileType::Ole2 && memchr::memmem::find(data, VBA_UTF16).is_some()
}

/// True for the zip entry name of an OOXML VBA project.
pub fn is_ooxml_macro_part(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with("vbaproject.bin")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest PE header the detector accepts.
    pub(crate) fn tiny_pe() -> Vec<u8> {
        let mut pe = vec![0u8; 0x80];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        pe
    }

    #[test]
    fn magic_bytes_decide_not_names() {
        assert_eq!(FileType::of(&tiny_pe()), FileType::WindowsExecutable);
        assert_eq!(FileType::of(b"MZ just text"), FileType::Other);
        assert_eq!(FileType::of(b"\x7fELF\x02\x01"), FileType::LinuxExecutable);
        assert_eq!(
            FileType::of(b"\xcf\xfa\xed\xfe\x07\0\0\x01"),
            FileType::MacExecutable
        );
        assert_eq!(
            FileType::of(b"\xca\xfe\xba\xbe\0\0\0\x02"),
            FileType::MacExecutable
        );
        assert_eq!(
            FileType::of(b"\xca\xfe\xba\xbe\0\0\0\x34"),
            FileType::Other,
            "a Java class"
        );
        assert_eq!(FileType::of(b"#!/bin/sh\nrm -rf ~"), FileType::Script);
        assert_eq!(FileType::of(b"%PDF-1.7"), FileType::Pdf);
        assert_eq!(FileType::of(b"PK\x03\x04"), FileType::Zip);
        assert!(FileType::Script.is_executable());
        assert!(!FileType::Pdf.is_executable());
    }

    #[test]
    fn macros_in_ole2_and_ooxml() {
        let mut doc = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".to_vec();
        doc.extend_from_slice(&[0; 64]);
        assert!(!has_ole2_macros(&doc));
        doc.extend_from_slice(b"_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0");
        assert!(has_ole2_macros(&doc));
        assert!(is_ooxml_macro_part("word/vbaProject.bin"));
        assert!(!is_ooxml_macro_part("word/document.xml"));
    }
}
