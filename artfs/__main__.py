from artfs.cli import main

main(prog_name="artfs")
