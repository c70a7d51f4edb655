//! The device login's URL as a QR code on the terminal, for a phone to open
//! (as oidc-agent shows one). Two rows of modules per line, with Unicode half
//! blocks; the light modules are drawn, so the code reads right on the usual
//! dark terminal (scanners also read it inverted, on a light one).

use qrcode::{Color, QrCode};

/// Modules of light margin around the code (the standard asks for 4; 2 is
/// what terminal QR tools use and phones read).
const QUIET: usize = 2;

/// The QR code of `text` as lines of text, or None when it would be wider
/// than `columns` (or the text does not fit a QR code).
pub fn render(text: &str, columns: usize) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET;
    if size > columns {
        return None;
    }
    let dark = |x: usize, y: usize| {
        let (x, y) = (x.checked_sub(QUIET)?, y.checked_sub(QUIET)?);
        (x < width && y < width).then(|| colors[y * width + x] == Color::Dark)
    };
    let light = |x: usize, y: usize| dark(x, y) != Some(true);
    let mut out = String::with_capacity(size * size * 2);
    for y in (0..size).step_by(2) {
        for x in 0..size {
            let bottom = y + 1 < size && light(x, y + 1);
            out.push(match (light(x, y), bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Some(out)
}

/// The width of the terminal on stderr, when it is one.
pub fn terminal_columns() -> Option<usize> {
    // SAFETY: winsize is plain integers, for which all zero bytes are valid.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct it is given, which
    // lives across the call.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_url_becomes_a_square_of_half_blocks() {
        let url = "http://127.0.0.1:34627/auth/device?user_code=MPBH-QHLX";
        let shown = render(url, 80).unwrap();
        let lines: Vec<&str> = shown.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert_eq!(lines.len(), width.div_ceil(2), "two rows per line");
        // The quiet zone is light: the first line is all full blocks.
        assert!(lines[0].chars().all(|c| c == '█'), "{}", lines[0]);
        assert!(shown.contains(' ') && shown.contains('▀'));
        assert_eq!(render(url, 20), None, "too wide for the terminal");
    }
}
