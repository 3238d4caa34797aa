fn main() { println!("prismctl: not built yet (API issue)"); }
