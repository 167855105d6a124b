from monitor.cli import console

console()
