fn main() {
    std::process::exit(release::cli::main());
}
