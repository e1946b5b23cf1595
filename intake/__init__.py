"""The pure core of SFTP file intake: naming contracts, file contracts, streaming validation and
error reports. No I/O beyond reading the file it is given and writing the Parquet it is asked
for; the activities around it do the rest."""
