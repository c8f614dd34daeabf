import os

print(os.environ['DATABASE_URL'].split('@')[1])
