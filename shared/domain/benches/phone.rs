//! The first phone number a fresh process reads, against the second: each option in
//! 20 new processes (this program runs itself), median and max.
//!
//! - `whole database, formatter`: libphonenumber's whole metadata, built on first use
//!   (every country's patterns checked), as `phonenumber::parse` does, and the E.164
//!   form written by the library's formatter (the former `E164::parse`);
//! - `whole database`: the same, the E.164 form written from the country code and
//!   national number;
//! - `+1 metadata`: `E164::parse` in a US region, which reads +1 numbers with the
//!   North American Numbering Plan's metadata alone and writes E.164 directly;
//! - `+1 metadata, warmed`: the same after `E164::warm_up` ran on a thread of its own
//!   at start-up (as the Lambda functions do while they build their clients), with the
//!   first number read 20 ms later; and how long that warm-up took.
//!
//! Run: `cargo bench -p textbridge-domain --bench phone` (`-- --runs N`).

use std::process::Command;
use std::time::{Duration, Instant};

use textbridge_domain::{E164, Region};

/// The environment variable that makes a run of this program one measurement.
const ONE: &str = "TEXTBRIDGE_PHONE_BENCH_ONE";

fn whole_formatter(input: &str) -> String {
    let number = phonenumber::parse(Some(phonenumber::country::Id::US), input).expect("parse");
    assert!(phonenumber::is_valid(&number));
    number.format().mode(phonenumber::Mode::E164).to_string()
}

fn whole(input: &str) -> String {
    let number = phonenumber::parse(Some(phonenumber::country::Id::US), input).expect("parse");
    assert!(phonenumber::is_valid(&number));
    format!("+{}{}", number.code().value(), number.national())
}

fn ours(input: &str) -> String {
    E164::parse(input, Region::US).expect("valid").as_str().to_owned()
}

/// One measurement in this process: microseconds of the first and second number
/// (and of the warm-up, when there is one).
fn measure(option: &str) -> Vec<u128> {
    let parse: fn(&str) -> String = match option {
        "formatter" => whole_formatter,
        "whole" => whole,
        _ => ours,
    };
    let mut warm = None;
    if option == "warmed" {
        warm = Some(std::thread::spawn(|| {
            let t = Instant::now();
            E164::warm_up();
            t.elapsed()
        }));
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    assert_eq!(parse("(206) 555-0100"), "+12065550100");
    let first = t.elapsed();
    let t = Instant::now();
    assert_eq!(parse("+1 312 555 0199"), "+13125550199");
    let second = t.elapsed();
    let mut out = vec![first.as_micros(), second.as_micros()];
    if let Some(warm) = warm {
        out.push(warm.join().expect("warm-up").as_micros());
    }
    out
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn stats(mut v: Vec<u128>) -> String {
    v.sort_unstable();
    let ms = |us: u128| us as f64 / 1000.0;
    format!("{:>8.2} ms median {:>8.2} ms max", ms(v[v.len() / 2]), ms(v[v.len() - 1]))
}

fn main() {
    if let Ok(option) = std::env::var(ONE) {
        let out: Vec<String> = measure(&option).iter().map(u128::to_string).collect();
        println!("{}", out.join(" "));
        return;
    }
    let runs = arg("--runs", 20);
    let exe = std::env::current_exe().expect("this program");
    println!("first and second phone number of a fresh process, {runs} processes each");
    for (option, label) in [
        ("formatter", "whole db, formatter"),
        ("whole", "whole database"),
        ("nanp", "+1 metadata"),
        ("warmed", "+1 metadata, warmed"),
    ] {
        let mut columns: Vec<Vec<u128>> = Vec::new();
        for _ in 0..runs {
            let out = Command::new(&exe).env(ONE, option).output().expect("run");
            let text = String::from_utf8(out.stdout).expect("utf-8");
            for (i, n) in text.split_whitespace().enumerate() {
                if columns.len() <= i {
                    columns.push(Vec::new());
                }
                columns[i].push(n.parse().expect("number"));
            }
        }
        let mut columns = columns.into_iter();
        println!("{label:<22} first  {}", stats(columns.next().expect("first")));
        println!("{label:<22} second {}", stats(columns.next().expect("second")));
        if let Some(warm) = columns.next() {
            println!("{label:<22} warm-up on its thread {}", stats(warm));
        }
    }
}
